// The scale benchmarks of benches/benches/scale.rs, in Go, doing the same
// work: run with GOMAXPROCS=1 (scripts/bench-scale does) to compare with
// one dill thread. Usage: scale skynet | parked N | alive N. Prints
// "RESULT <key> <value>" lines.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func result(key string, v float64) { fmt.Printf("RESULT %s %.1f\n", key, v) }

func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func median(f func() float64) float64 {
	xs := make([]float64, 5)
	for i := range xs {
		xs[i] = f()
	}
	sort.Float64s(xs)
	return xs[2]
}

const skynetSize = 1000000

func skynet(c chan int, num, size int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	sub := size / 10
	for i := 0; i < 10; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func runSkynet() {
	run := func() float64 {
		start := time.Now()
		c := make(chan int)
		go skynet(c, 0, skynetSize)
		if s := <-c; s != skynetSize*(skynetSize-1)/2 {
			panic("wrong sum")
		}
		return float64(time.Since(start).Nanoseconds()) / 1e6
	}
	run()
	result("skynet_ms", median(run))
}

func parked(n int) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	var started int64
	runtime.GC()
	rss0 := rss()
	t := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			<-ch
			wg.Done()
		}()
	}
	// Until every goroutine has run and parked.
	for atomic.LoadInt64(&started) < int64(n) {
		runtime.Gosched()
	}
	spawn := time.Since(t)
	rss1 := rss()
	t = time.Now()
	for i := 0; i < n; i++ {
		ch <- struct{}{}
	}
	wg.Wait()
	wake := time.Since(t)
	result(fmt.Sprintf("spawn_parked_ns@%d", n), float64(spawn.Nanoseconds())/float64(n))
	result(fmt.Sprintf("rss_per_parked_bytes@%d", n), float64(rss1-rss0)/float64(n))
	result(fmt.Sprintf("wake_finish_ns@%d", n), float64(wake.Nanoseconds())/float64(n))
}

func alive(others int) {
	// Half parked in a receive, half in a receive with a timer that is
	// earlier than the ping-pong's (see scale.rs).
	och := make(chan struct{})
	var owg sync.WaitGroup
	owg.Add(others)
	for i := 0; i < others; i++ {
		timed := i%2 == 1
		go func() {
			if timed {
				t := time.NewTimer(30 * time.Minute)
				select {
				case <-och:
				case <-t.C:
				}
				t.Stop()
			} else {
				<-och
			}
			owg.Done()
		}()
	}
	runtime.Gosched()

	const yields = 1000000
	y := median(func() float64 {
		var wg sync.WaitGroup
		wg.Add(2)
		start := time.Now()
		for j := 0; j < 2; j++ {
			go func() {
				for i := 0; i < yields/2; i++ {
					runtime.Gosched()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		return float64(time.Since(start).Nanoseconds()) / yields
	})
	result(fmt.Sprintf("yield_ns@%d", others), y)

	const msgs = 500000
	pingpong := func(timed bool) float64 {
		a := make(chan int)
		b := make(chan int)
		go func() {
			var t *time.Timer
			if timed {
				t = time.NewTimer(time.Hour)
			}
			for i := 0; i < msgs; i++ {
				var v int
				if timed {
					t.Reset(time.Hour)
					select {
					case v = <-a:
					case <-t.C:
						panic("timer fired")
					}
				} else {
					v = <-a
				}
				b <- v + 1
			}
		}()
		var t *time.Timer
		if timed {
			t = time.NewTimer(time.Hour)
		}
		start := time.Now()
		v := 0
		for i := 0; i < msgs; i++ {
			a <- v
			if timed {
				t.Reset(time.Hour)
				select {
				case v = <-b:
				case <-t.C:
					panic("timer fired")
				}
			} else {
				v = <-b
			}
		}
		el := time.Since(start)
		if v != msgs {
			panic("wrong count")
		}
		return float64(el.Nanoseconds()) / (2 * msgs)
	}
	result(fmt.Sprintf("chan_pingpong_ns@%d", others), median(func() float64 { return pingpong(false) }))
	result(fmt.Sprintf("timer_pingpong_ns@%d", others), median(func() float64 { return pingpong(true) }))
	t := time.Now()
	close(och)
	owg.Wait()
	n := others
	if n < 1 {
		n = 1
	}
	result(fmt.Sprintf("teardown_ns@%d", others), float64(time.Since(t).Nanoseconds())/float64(n))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scale skynet | parked N | alive N")
		os.Exit(2)
	}
	n := 0
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	switch os.Args[1] {
	case "skynet":
		runSkynet()
	case "parked":
		parked(n)
	case "alive":
		alive(n)
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
