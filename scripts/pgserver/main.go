// Command pgserver starts a throwaway Postgres (wal_level=logical) from the
// local binaries for the quickstart and the bench harness, prints its DSN
// base on stdout, and stops it on SIGINT/SIGTERM. It uses the same code as
// the tests' helper (internal/testenv), including running the server as the
// postgres OS user when started as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"syncline/internal/testenv"
)

func main() {
	dir := flag.String("dir", "", "cluster directory (default: a new temporary one)")
	port := flag.Int("port", 0, "TCP port (default: a free one)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := testenv.StartPostgresServer(ctx, *dir, *port, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgserver:", err)
		os.Exit(1)
	}
	fmt.Println(srv.DSN("postgres"))
	<-ctx.Done()
	srv.Stop()
}
