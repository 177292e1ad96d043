// Transports: a child's stdin/stdout, a TCP connection we dial, or one we
// accept. Each scenario gets a fresh transport (and a fresh child when we
// spawn one), so a scenario that ends the session cannot spoil the next.
// Mirrors interop/gopeer/transport.go.

import { spawn as cpSpawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import { AbstractMultiaddrConnection } from '@libp2p/utils'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Proc is a spawned peer program.
export class Proc {
  constructor (cmdline, verbose) {
    // exec: the shell becomes the program, so signals and exit status are
    // the program's own.
    this.child = cpSpawn('/bin/sh', ['-c', 'exec ' + cmdline], {
      stdio: ['pipe', 'pipe', 'pipe']
    })
    this.stderr = ''
    this.state = null
    this.child.stderr.on('data', (d) => {
      this.stderr += d
      if (verbose) process.stderr.write(d)
    })
    const stderrDone = new Promise((resolve) => {
      this.child.stderr.on('close', resolve)
      this.child.stderr.on('error', resolve)
    })
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        // Let the last stderr bytes arrive (at most 1 s).
        Promise.race([stderrDone, sleep(1000)]).then(() => {
          this.state = { code, signal }
          resolve()
        })
      })
      this.child.on('error', (err) => {
        this.state = { code: 127, signal: null, err }
        resolve()
      })
    })
    // A child that exits early makes our writes fail: that is reported by
    // the scenario, never an uncaught exception.
    this.child.stdin.on('error', () => {})
    this.child.stdout.on('error', () => {})
  }

  async exited (ms) {
    if (this.state) return true
    let timer
    const t = new Promise((resolve) => { timer = setTimeout(resolve, ms, false) })
    const r = await Promise.race([this.done.then(() => true), t])
    clearTimeout(timer)
    return r
  }

  async kill () {
    if (this.state) return
    this.child.kill('SIGTERM')
    if (!await this.exited(2000)) {
      this.child.kill('SIGKILL')
      await this.exited(2000)
    }
  }

  stderrLines () {
    return this.stderr.split('\n').filter((l) => l.trim() !== '')
  }

  // How the child ended: "exit=0", "exit=1", "signal=...".
  exitDesc () {
    const st = this.state
    if (!st) return { code: -1, signaled: false, desc: 'running' }
    if (st.signal) return { code: -1, signaled: true, desc: 'signal=' + st.signal }
    return { code: st.code, signaled: false, desc: `exit=${st.code}` }
  }
}

// traceFiles is set by --trace: every transport's bytes are copied to
// PREFIX.N.tx (what we sent) and PREFIX.N.rx (what we received).
export const trace = { prefix: '', seq: 0 }

// Conn is the byte transport a session runs on: a readable, a writable, a
// half-close and a full close.
export class Conn {
  constructor (readable, writable, closeWrite, closeAll, proc) {
    this.readable = readable
    this.writable = writable
    this.closeWriteFn = closeWrite
    this.closeAllFn = closeAll
    this.proc = proc
    this.abrupt = false
    this.listenMode = false // the child is a --listen server: never exits alone
    this.closed = false
    this.eof = false
    this.onData = null // set by the session side
    this.onEnd = null
    this.tx = null
    this.rx = null
    if (trace.prefix) {
      trace.seq++
      this.tx = fs.openSync(`${trace.prefix}.${trace.seq}.tx`, 'w')
      this.rx = fs.openSync(`${trace.prefix}.${trace.seq}.rx`, 'w')
    }
    this.drained = new Promise((resolve) => { this.resolveDrained = resolve })
    readable.on('data', (b) => {
      if (this.rx !== null) fs.writeSync(this.rx, b)
      // After close() the session side is gone: keep draining so the peer
      // never blocks or gets EPIPE on its way out.
      if (!this.closed && this.onData) this.onData(b)
    })
    const end = (err) => {
      if (this.eof) return
      this.eof = true
      this.resolveDrained()
      if (!this.closed && this.onEnd) this.onEnd(err)
    }
    readable.on('end', () => end())
    readable.on('close', () => end())
    readable.on('error', (err) => end(err))
    writable.on('error', () => {})
  }

  write (buf) {
    if (this.tx !== null) fs.writeSync(this.tx, buf)
    return this.writable.write(buf)
  }

  // closeWrite half-closes: the peer reads EOF, we can still read.
  closeWrite () { this.closeWriteFn() }

  // close ends our use of the transport. Graceful (default): half-close,
  // then drain whatever the peer still sends until it closes (at most
  // 10 s). Abrupt: close both directions now.
  close () {
    if (this.closed) return
    this.closed = true
    if (this.abrupt) {
      this.closeAllFn()
      return
    }
    this.closeWriteFn()
    let timer
    Promise.race([this.drained,
      new Promise((resolve) => { timer = setTimeout(resolve, 10000) })])
      .then(() => { clearTimeout(timer); this.closeAllFn() })
  }
}

// NodeMaConn is the minimal libp2p MultiaddrConnection the yamux muxer
// needs (@libp2p/interface v3 message stream): bytes in through onData(),
// bytes out through sendData(), backpressure through 'drain'.
export class NodeMaConn extends AbstractMultiaddrConnection {
  constructor (conn, direction, log) {
    super({ log, direction, remoteAddr: undefined })
    this.conn = conn
    conn.onData = (b) => this.onData(b)
    conn.onEnd = (err) => this.onTransportClosed(err)
    conn.writable.on('drain', () => this.onMuxerDrain())
  }

  sendData (list) {
    const w = this.conn.writable
    let ok = true
    if (w.destroyed || w.writableEnded) {
      return { sentBytes: list.byteLength, canSendMore: true }
    }
    // One writev for the header and the body.
    w.cork()
    for (const buf of list) ok = this.conn.write(buf)
    w.uncork()
    return { sentBytes: list.byteLength, canSendMore: ok }
  }

  sendReset () { this.conn.abrupt = true; this.conn.close() }
  async sendClose () { this.conn.close() }
  sendPause () { this.conn.readable.pause() }
  sendResume () { this.conn.readable.resume() }
}

export async function freePort (host) {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, host, () => {
      const port = s.address().port
      s.close(() => resolve(`${host}:${port}`))
    })
  })
}

function splitAddr (addr) {
  const i = addr.lastIndexOf(':')
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) }
}

function connectOnce (addr) {
  const { host, port } = splitAddr(addr)
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true })
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s) })
    s.once('error', reject)
  })
}

function socketConn (s, proc) {
  s.setNoDelay(true)
  return new Conn(s, s, () => s.end(), () => s.destroy(), proc)
}

// dial opens the transport for one scenario. extra is appended to the
// spawned command line.
export async function dial (p, extra) {
  let cmdline = p.cmd
  if (extra) cmdline += ' ' + extra
  switch (p.transport) {
    case 'stdio-spawn': {
      if (!p.cmd) throw new Error('stdio-spawn needs --cmd')
      const proc = new Proc(cmdline, p.verbose)
      const c = proc.child
      return new Conn(c.stdout, c.stdin, () => c.stdin.end(), () => {
        c.stdin.destroy()
        c.stdout.destroy()
      }, proc)
    }
    case 'tcp-connect': {
      let addr = p.addr
      let proc = null
      if (p.cmd) {
        if (addr.endsWith(':0')) addr = await freePort(splitAddr(addr).host)
        proc = new Proc(cmdline.replaceAll('{addr}', addr), p.verbose)
        proc.child.stdin.end()
        proc.child.stdout.resume()
      }
      const deadline = Date.now() + 10000
      for (;;) {
        try {
          const s = await connectOnce(addr)
          const c = socketConn(s, proc)
          c.listenMode = proc !== null
          return c
        } catch (err) {
          if (Date.now() > deadline) {
            if (proc) await proc.kill()
            throw err
          }
          if (proc && proc.state) {
            throw new Error(`listener died before accepting (${proc.exitDesc().desc}: ${proc.stderrLines().join(' | ')})`)
          }
          await sleep(20)
        }
      }
    }
    case 'tcp-listen': {
      if (!p.listener) {
        const { host, port } = splitAddr(p.addr)
        p.listener = net.createServer({ allowHalfOpen: true })
        p.pending = []
        p.waiters = []
        p.listener.on('connection', (s) => {
          const w = p.waiters.shift()
          if (w) w(s)
          else p.pending.push(s)
        })
        await new Promise((resolve, reject) => {
          p.listener.once('error', reject)
          p.listener.listen(port, host, resolve)
        })
      }
      let proc = null
      if (p.cmd) {
        const a = p.listener.address()
        proc = new Proc(cmdline.replaceAll('{addr}', `${a.address}:${a.port}`),
          p.verbose)
        proc.child.stdin.end()
        proc.child.stdout.resume()
      }
      let s = p.pending.shift()
      if (!s) {
        let timer, waiter
        s = await Promise.race([
          new Promise((resolve) => { waiter = resolve; p.waiters.push(resolve) }),
          new Promise((resolve) => { timer = setTimeout(resolve, 10000, null) })
        ])
        clearTimeout(timer)
        if (!s) {
          p.waiters = p.waiters.filter((w) => w !== waiter)
          if (proc) await proc.kill()
          throw new Error('no connection within 10s')
        }
      }
      return socketConn(s, proc)
    }
  }
  throw new Error(`unknown transport "${p.transport}"`)
}
