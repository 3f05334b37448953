// Go's side of benches/benches/msg.rs: the same PREFIX ping-pong (64-byte
// payload, 4-byte big-endian size, 68 bytes each way) between two
// goroutines on the ends of a socketpair, run with GOMAXPROCS=1 as dill
// runs on one thread. Median of 7 runs; lines of "name ns_per_round_trip".
//
//	go_prefix_exact: io.ReadFull of the size, then of the payload.
//	go_prefix_bufio: the same through a bufio.Reader.
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"syscall"
	"time"
)

const payload = 64
const rounds = 20000
const runs = 7

func pair() (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "sock")
		c, err := net.FileConn(f)
		if err != nil {
			panic(err)
		}
		f.Close()
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

func recvMsg(r io.Reader, hdr, buf []byte) int {
	if _, err := io.ReadFull(r, hdr); err != nil {
		panic(err)
	}
	n := int(binary.BigEndian.Uint32(hdr))
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		panic(err)
	}
	return n
}

func run(buffered bool) float64 {
	a, b := pair()
	defer a.Close()
	defer b.Close()
	wrap := func(c net.Conn) io.Reader {
		if buffered {
			return bufio.NewReader(c)
		}
		return c
	}
	ra, rb := wrap(a), wrap(b)
	done := make(chan struct{})
	go func() {
		hdr := make([]byte, 4)
		buf := make([]byte, payload)
		out := make([]byte, 4+payload)
		for i := 0; i < rounds; i++ {
			n := recvMsg(rb, hdr, buf)
			binary.BigEndian.PutUint32(out, uint32(n))
			copy(out[4:], buf[:n])
			if _, err := b.Write(out[:4+n]); err != nil {
				panic(err)
			}
		}
		close(done)
	}()
	frame := make([]byte, 4+payload)
	binary.BigEndian.PutUint32(frame, payload)
	hdr := make([]byte, 4)
	buf := make([]byte, payload)
	start := time.Now()
	for i := 0; i < rounds; i++ {
		if _, err := a.Write(frame); err != nil {
			panic(err)
		}
		recvMsg(ra, hdr, buf)
	}
	t := time.Since(start)
	<-done
	return float64(t.Nanoseconds()) / rounds
}

func report(name string, f func() float64) {
	v := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		v = append(v, f())
	}
	sort.Float64s(v)
	fmt.Printf("%s %.0f\n", name, v[len(v)/2])
}

func main() {
	report("go_prefix_exact", func() float64 { return run(false) })
	report("go_prefix_bufio", func() float64 { return run(true) })
}
