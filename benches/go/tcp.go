// The Go peer of benches/benches/tcp.rs: the same two measurements with
// goroutines on one OS thread (GOMAXPROCS=1), printed as nanoseconds per
// operation (median of several runs) for the Rust bench to show beside its
// own:
//
//	tcp_pingpong: a 1-byte round trip over one loopback connection, an
//	echo goroutine on the other end;
//	tcp_connect: one Dial + Accept + Close of both ends (server end first).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"time"
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func pingpong(n int) float64 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	a, err := net.Dial("tcp", l.Addr().String())
	must(err)
	defer a.Close()
	b, err := l.Accept()
	must(err)
	defer b.Close()
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		for i := 0; i < n; i++ {
			_, err := io.ReadFull(b, buf)
			must(err)
			_, err = b.Write(buf)
			must(err)
		}
		close(done)
	}()
	buf := make([]byte, 1)
	start := time.Now()
	for i := 0; i < n; i++ {
		_, err := a.Write([]byte{'x'})
		must(err)
		_, err = io.ReadFull(a, buf)
		must(err)
	}
	el := time.Since(start)
	<-done
	return float64(el.Nanoseconds()) / float64(n)
}

func connect(l net.Listener, n int) float64 {
	addr := l.Addr().String()
	start := time.Now()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		must(err)
		s, err := l.Accept()
		must(err)
		s.Close()
		c.Close()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func main() {
	runtime.GOMAXPROCS(1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	var pp, cc []float64
	pingpong(2000)
	connect(l, 200)
	for i := 0; i < 7; i++ {
		pp = append(pp, pingpong(20000))
		cc = append(cc, connect(l, 2000))
	}
	fmt.Printf("go_gomaxprocs1 tcp_pingpong %.0f ns\n", median(pp))
	fmt.Printf("go_gomaxprocs1 tcp_connect %.0f ns\n", median(cc))
}
