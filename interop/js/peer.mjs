#!/usr/bin/env node
// js-yamux-peer: checks a yamux echo peer (libyamux's examples/echo) with
// @chainsafe/libp2p-yamux, a JavaScript yamux that speaks hashicorp's wire
// format, driven directly over a byte transport (no libp2p node).
// Same command line, scenario names and output as interop/bin/go-peer:
//
//	peer.mjs --role client|server
//	         --transport stdio-spawn|tcp-connect|tcp-listen
//	         [--cmd "PROGRAM ARGS"] [--addr HOST:PORT]
//	         [--scenario NAME[,NAME...]|all] [--timeout 60s] [--list]
//	         [--trace PREFIX] [-v]
//
// Each scenario runs on a fresh transport (and a fresh child when --cmd is
// given; "{addr}" in --cmd is replaced by the TCP address) and prints one
// line: SCENARIO name PASS|FAIL|SKIP secs detail.

// Node 20 has no Promise.withResolvers (ES2024, Node 22), which the
// library and @libp2p/utils call: the standard polyfill.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { readFileSync } = await import('node:fs')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { logger } = await import('@libp2p/logger')
const T = await import('./transport.mjs')
const S = await import('./scenarios.mjs')

const LIB = '@chainsafe/libp2p-yamux'
const LIB_VERSION = JSON.parse(readFileSync(new URL(
  './node_modules/@chainsafe/libp2p-yamux/package.json', import.meta.url))).version

function quietLog () {
  const log = () => {}
  log.enabled = false
  log.trace = log
  log.error = log
  log.newScope = () => log
  return log
}

// Env is what a scenario works with: the transport, and the peer settings.
class Env {
  constructor (p, c) {
    this.p = p
    this.c = c
    this.muxer = null
    this.closed = false // the scenario ended the session itself
  }

  // session starts the muxer on this transport; init is the library's
  // YamuxMuxerInit. The role comes from the connection's direction.
  session (init = {}) {
    const log = this.p.verbose ? logger('interop') : quietLog()
    const maConn = new T.NodeMaConn(this.c,
      this.p.role === 'client' ? 'outbound' : 'inbound', log)
    this.muxer = yamux(init)().createStreamMuxer(maConn)
    // The echo opens no streams; refuse any it would.
    this.muxer.addEventListener('stream', (evt) => evt.detail.abort(new Error('unexpected stream')))
    return this.muxer
  }

  ourID (n) { return this.p.role === 'client' ? 2 * n + 1 : 2 * n + 2 }

  // end closes the session as a libp2p user does (muxer.close(): FINs and
  // Go Away(0)), then the transport (half-close, drain).
  async end () {
    const m = this.muxer
    if (m && !this.closed && m.status === 'open') {
      try {
        await m.close({ signal: AbortSignal.timeout(2000) })
      } catch (err) {
        m.abort(err)
      }
    }
    this.c.close()
  }
}

function parseDuration (s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s)
  if (!m) throw new Error(`bad duration ${s}`)
  const v = Number(m[1])
  return m[2] === 'ms' ? v : m[2] === 'm' ? v * 60000 : v * 1000
}

function parseArgs (argv) {
  const p = {
    role: 'client',
    transport: 'stdio-spawn',
    cmd: '',
    addr: '127.0.0.1:0',
    scenario: 'all',
    timeoutMs: 60000,
    verbose: false,
    kaArgs: '--keepalive 100',
    list: false,
    libName: LIB,
    libVersion: LIB_VERSION
  }
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]
    let v = null
    if (a.startsWith('--')) a = a.slice(1)
    const eq = a.indexOf('=')
    if (eq >= 0) { v = a.slice(eq + 1); a = a.slice(0, eq) }
    const val = () => {
      if (v !== null) return v
      if (i + 1 >= argv.length) throw new Error(`flag needs an argument: ${argv[i]}`)
      return argv[++i]
    }
    switch (a) {
      case '-role': p.role = val(); break
      case '-transport': p.transport = val(); break
      case '-cmd': p.cmd = val(); break
      case '-addr': p.addr = val(); break
      case '-scenario': p.scenario = val(); break
      case '-timeout': p.timeoutMs = parseDuration(val()); break
      case '-keepalive-args': p.kaArgs = val(); break
      case '-trace': T.trace.prefix = val(); break
      case '-v': p.verbose = true; break
      case '-list': p.list = true; break
      default: throw new Error(`flag provided but not defined: ${argv[i]}`)
    }
  }
  return p
}

async function runOne (p, s) {
  const start = performance.now()
  const secs = () => (performance.now() - start) / 1000
  const extra = s.extra ? s.extra(p) : ''
  let c
  try {
    c = await T.dial(p, extra)
  } catch (err) {
    return { res: 'FAIL', secs: secs(), detail: 'transport: ' + err.message }
  }
  const e = new Env(p, c)
  let timer
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, p.timeoutMs, { timeout: true })
  })
  const run = (async () => s.run(e))().then((detail) => ({ detail }), (err) => ({ err }))
  let r = await Promise.race([run, timeout])
  clearTimeout(timer)
  if (r.timeout) {
    r = { err: new Error(`timed out after ${p.timeoutMs / 1000}s`) }
    c.abrupt = true
    if (e.muxer) e.muxer.abort(r.err)
    c.close()
    if (c.proc) await c.proc.kill()
  }
  await e.end()
  let res = 'PASS'
  let detail = r.detail ?? ''
  if (r.err) {
    if (r.err instanceof S.SkipError) {
      res = 'SKIP'
    } else {
      res = 'FAIL'
    }
    detail = r.err.message
  }
  if (c.proc) {
    const { ok, d } = await checkExit(c, s.expect ?? S.expectZero)
    if (detail !== '') detail += '; '
    detail += d
    if (!ok && res === 'PASS') res = 'FAIL'
  }
  return { res, secs: secs(), detail }
}

async function checkExit (c, want) {
  const proc = c.proc
  if (c.listenMode) {
    // A --listen server keeps serving; it is only judged if it exits.
    if (!await proc.exited(500)) {
      await proc.kill()
      return { ok: true, d: 'listener still serving' }
    }
  } else if (!await proc.exited(10000)) {
    await proc.kill()
    return { ok: false, d: 'peer did not exit within 10s after the session ended' }
  }
  let { code, signaled, desc } = proc.exitDesc()
  const lines = proc.stderrLines()
  if (lines.length > 0) desc += ` stderr=${JSON.stringify(lines.join(' | '))}`
  if (signaled) return { ok: false, d: 'peer ' + desc }
  switch (want) {
    case S.expectZero:
      return { ok: code === 0, d: 'peer ' + desc }
    case S.expectNonZero:
      if (code === 0) return { ok: false, d: 'peer ' + desc + ' (expected non-zero)' }
      if (lines.length !== 1) return { ok: false, d: 'peer ' + desc + ` (expected one stderr line, got ${lines.length})` }
      return { ok: true, d: 'peer ' + desc }
    default:
      if (code !== 0 && lines.length !== 1) return { ok: false, d: 'peer ' + desc + ` (expected one stderr line, got ${lines.length})` }
      return { ok: true, d: 'peer ' + desc }
  }
}

async function main () {
  let p
  try {
    p = parseArgs(process.argv.slice(2))
  } catch (err) {
    console.error(err.message)
    return 2
  }
  if (p.role !== 'client' && p.role !== 'server') {
    console.error('--role must be client or server')
    return 2
  }
  const all = S.scenarios()
  if (p.list) {
    for (const s of all) console.log(s.name)
    return 0
  }
  const sel = []
  for (const want of p.scenario.split(',')) {
    const found = all.filter((s) => want === 'all' || s.name === want)
    if (found.length === 0) {
      console.error(`unknown scenario "${want}" (try --list)`)
      return 2
    }
    sel.push(...found)
  }
  console.log(`# ${LIB} ${LIB_VERSION}, role ${p.role}, transport ${p.transport}, peer: ${p.cmd}`)
  let passed = 0
  let failed = 0
  let skipped = 0
  for (const s of sel) {
    const { res, secs, detail } = await runOne(p, s)
    console.log(`SCENARIO ${s.name} ${res} ${secs.toFixed(2)} ${detail}`)
    if (res === 'PASS') passed++
    else if (res === 'FAIL') failed++
    else skipped++
  }
  console.log(`# ${passed} passed, ${failed} failed, ${skipped} skipped`)
  return failed > 0 ? 1 : 0
}

// A library error event nobody awaits must not end the run unreported.
process.on('unhandledRejection', (err) => {
  if (process.env.INTEROP_DEBUG) console.error('unhandled rejection:', err)
})

const code = await main()
// stdout may be a pipe: let it flush before exiting (the keepalive timers
// and the listener would otherwise keep the process alive).
process.stdout.write('', () => process.exit(code))
