// The Go peer of dill's multi-thread IPC benchmark (benches/benches/ipc_mt.rs):
// the same echo service and clients, on Go's scheduler with GOMAXPROCS
// threads (set in the environment).
//
//	ipcmt inproc <path> <clients> <conns> <round trips> <msg bytes>
//	    listener, echo server and clients in this process; prints
//	    "<round trips> <nanoseconds>" for the clients' work.
//	ipcmt server <path>
//	    only the echo server; prints "ready" once listening and serves
//	    until stdin is closed.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

func echo(c net.Conn, size int) {
	defer c.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

func serve(l net.Listener, size int) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go echo(c, size)
	}
}

func client(path string, conns, rts, size int) error {
	msg := make([]byte, size)
	back := make([]byte, size)
	for k := 0; k < conns; k++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			return err
		}
		for i := 0; i < rts; i++ {
			msg[0] = byte(i)
			if _, err := c.Write(msg); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, back); err != nil {
				return err
			}
		}
		c.Close()
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad number:", s)
		os.Exit(2)
	}
	return n
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ipcmt inproc <path> <clients> <conns> <rts> <msg> | server <path> <msg>")
		os.Exit(2)
	}
	path := os.Args[2]
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.Remove(path)
	switch os.Args[1] {
	case "inproc":
		clients, conns, rts, size := atoi(os.Args[3]), atoi(os.Args[4]), atoi(os.Args[5]), atoi(os.Args[6])
		go serve(l, size)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := client(path, conns, rts, size); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		select {
		case err := <-errs:
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		default:
		}
		fmt.Printf("%d %d\n", clients*conns*rts, elapsed.Nanoseconds())
	case "server":
		size := atoi(os.Args[3])
		go serve(l, size)
		fmt.Println("ready")
		io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
