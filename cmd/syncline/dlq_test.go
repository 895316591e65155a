package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"syncline/internal/testenv"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syncline test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// The operator's commands against a running process whose admin API is
// served over HTTPS with a token: status shows components, stats and the
// DLQ count; a row the warehouse rejected is listed by `dlq list`, and
// `dlq replay` delivers it once the cause is fixed, and only once.
func TestStatusAndDLQCommandsOverHTTPS(t *testing.T) {
	bin := buildBinary(t)
	pg := testenv.StartPostgres(t)
	src := pg.CreateDatabase(t, "app")
	wh := pg.CreateDatabase(t, "wh")
	pg.Exec(t, "app", "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 50) g")
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	httpPort := freePort(t)
	cfg := fmt.Sprintf(`name: ops
data_dir: %s
kafka: {embedded: {listen: "127.0.0.1:0"}}
registry: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:%d", token: "${HTTP_TOKEN}", tls: {cert_file: %s, key_file: %s}}
sources: [{name: app, type: postgres, dsn: "${SRC}", tables: [t]}]
sinks: [{name: wh, type: postgres, dsn: "${WH}", from: [app.public.t], batch_timeout: 50ms}]
`, dir, httpPort, cert, key)
	path := filepath.Join(dir, "p.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	env := append(os.Environ(), "SRC="+src, "WH="+wh, "HTTP_TOKEN=ops-t0ken")
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if strings.Contains(logs.String(), "ops-t0ken") {
			t.Errorf("the HTTP token appears in the logs")
		}
	})
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	testenv.WaitFor(t, 60*time.Second, "/readyz over HTTPS", func() bool {
		resp, err := insecure.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	conn := pg.Conn(t, "wh")
	count := func(q string) int {
		var n int
		if err := conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testenv.WaitFor(t, 60*time.Second, "snapshot in the warehouse", func() bool { return count("SELECT count(*) FROM public.t") == 50 })

	syncline := func(args ...string) (string, error) {
		c := exec.Command(bin, append(args, "--config", path)...)
		c.Env = env
		out, err := c.CombinedOutput()
		return string(out), err
	}
	pg.Exec(t, "wh", "ALTER TABLE public.t ADD CONSTRAINT v_cap CHECK (v < 1000)")
	pg.Exec(t, "app", "UPDATE t SET v = 5000 WHERE id = 3")
	var list string
	testenv.WaitFor(t, 60*time.Second, "the rejected row in `dlq list`", func() bool {
		out, err := syncline("dlq", "list")
		list = out
		return err == nil && strings.Contains(out, "rejected")
	})
	for _, w := range []string{"sink.wh", "v_cap", "syncline.app.public.t/", "parked"} {
		if !strings.Contains(list, w) {
			t.Errorf("dlq list lacks %q:\n%s", w, list)
		}
	}
	out, err := syncline("status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, w := range []string{"source app", "ready", "sinks", "wh", "DLQ: 1 records parked"} {
		if !strings.Contains(out, w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	if out, err := syncline("dlq", "replay"); err == nil || !strings.Contains(out, "--all") {
		t.Errorf("dlq replay without entries: %v %s; want an error naming --all", err, out)
	}
	pg.Exec(t, "wh", "ALTER TABLE public.t DROP CONSTRAINT v_cap")
	if out, err := syncline("dlq", "replay", "0"); err != nil || !strings.Contains(out, "1 replayed") {
		t.Fatalf("dlq replay 0: %v\n%s", err, out)
	}
	testenv.WaitFor(t, 30*time.Second, "the replayed row in the warehouse", func() bool { return count("SELECT v FROM public.t WHERE id = 3") == 5000 })
	if out, err := syncline("dlq", "replay", "0"); err == nil || !strings.Contains(out, "replayed already") {
		t.Errorf("second dlq replay 0: %v %s; want refused as replayed already", err, out)
	}
	if out, _ := syncline("dlq", "list"); !strings.Contains(out, "nothing parked") {
		t.Errorf("dlq list after the replay:\n%s", out)
	}
	t.Run("the audit API shows the record's writes, the replayed one first", func(t *testing.T) {
		req, _ := http.NewRequest("GET", fmt.Sprintf(`https://127.0.0.1:%d/api/v1/audit?sink=wh&table=t&key={"id":3}`, httpPort), nil)
		req.Header.Set("Authorization", "Bearer ops-t0ken")
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct {
			Entries []struct {
				Operation string `json:"operation"`
				KeyText   string `json:"key_text"`
				Topic     string `json:"kafka_topic"`
			} `json:"entries"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /api/v1/audit: %d %v", resp.StatusCode, err)
		}
		if len(res.Entries) != 2 || res.Entries[0].Operation != "update" || res.Entries[1].Operation != "insert" || res.Entries[0].KeyText != "id=3" {
			t.Errorf("audit of id 3: %+v; want the replayed update, then the snapshot's insert", res.Entries)
		}
	})
	t.Run("without the token the API refuses", func(t *testing.T) {
		resp, err := insecure.Get(fmt.Sprintf("https://127.0.0.1:%d/api/v1/dlq", httpPort))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("GET /api/v1/dlq without a token: %d, want 401", resp.StatusCode)
		}
	})
}
