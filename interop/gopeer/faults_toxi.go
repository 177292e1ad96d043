package main

// toxiproxy (github.com/Shopify/toxiproxy/v2, built by `make toxiproxy`) for
// the fault matrix: a fresh server per cell on a free port of 127.0.0.1,
// configured through its HTTP API.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"time"
)

type toxiServer struct {
	cmd    *exec.Cmd
	api    string
	mu     sync.Mutex
	logs   bytes.Buffer
	exited chan struct{}
	client *http.Client
}

type toxiLog struct{ t *toxiServer }

func (w toxiLog) Write(b []byte) (int, error) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if w.t.logs.Len() < 1<<20 {
		w.t.logs.Write(b)
	}
	return len(b), nil
}

// startToxiproxy starts a server and waits until its API answers. A port
// taken between our probe and its bind makes it exit: then another port.
func startToxiproxy(bin string) (*toxiServer, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr, err := freePort("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(addr)
		t := &toxiServer{exited: make(chan struct{}),
			client: &http.Client{Timeout: 5 * time.Second}}
		t.api = "http://127.0.0.1:" + port
		t.cmd = exec.Command(bin, "-host", "127.0.0.1", "-port", port,
			"-seed", "1")
		t.cmd.Env = append(t.cmd.Environ(), "LOG_LEVEL=warn")
		t.cmd.Stdout = toxiLog{t}
		t.cmd.Stderr = toxiLog{t}
		if err := t.cmd.Start(); err != nil {
			return nil, fmt.Errorf("toxiproxy: %v", err)
		}
		go func() { t.cmd.Wait(); close(t.exited) }()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-t.exited:
				lastErr = fmt.Errorf("toxiproxy exited at start: %s", t.log())
			default:
			}
			if lastErr != nil {
				break
			}
			resp, err := t.client.Get(t.api + "/version")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return t, nil
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if lastErr == nil {
			lastErr = fmt.Errorf("toxiproxy API not up after 5 s")
		}
		t.stop()
	}
	return nil, lastErr
}

func (t *toxiServer) log() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.logs.String()
}

func (t *toxiServer) stop() {
	if t.cmd.Process != nil {
		t.cmd.Process.Kill()
	}
	<-t.exited
}

func (t *toxiServer) post(path string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := t.client.Post(t.api+path, "application/json",
		bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("toxiproxy %s: %v", path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s: %s: %s", path, resp.Status,
			bytes.TrimSpace(rb))
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// proxy creates proxy `name` listening on a free port, returns its address.
func (t *toxiServer) proxy(name, upstream string) (string, error) {
	var out struct {
		Listen string `json:"listen"`
	}
	err := t.post("/proxies", map[string]any{"name": name,
		"listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}, &out)
	if err != nil {
		return "", err
	}
	if out.Listen == "" {
		return "", fmt.Errorf("toxiproxy did not say where proxy %s listens", name)
	}
	return out.Listen, nil
}

func (t *toxiServer) addToxic(proxy, name, typ, stream string,
	toxicity float64, attrs map[string]any) error {
	return t.post("/proxies/"+proxy+"/toxics", map[string]any{"name": name,
		"type": typ, "stream": stream, "toxicity": toxicity,
		"attributes": attrs}, nil)
}

func (t *toxiServer) setToxicity(proxy, name string, toxicity float64) error {
	return t.post("/proxies/"+proxy+"/toxics/"+name,
		map[string]any{"toxicity": toxicity}, nil)
}
