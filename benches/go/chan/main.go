// Go's channels across two Ps (run with GOMAXPROCS=2), measured the way
// benches/benches/shared_chan.rs measures dill: median of 7 runs, lines of
// "name ns_per_unit".
//
//	go_ping_pong: two goroutines, an unbuffered channel each way, per round trip.
//	              Go may run both on one P (a woken goroutine goes to the
//	              waker's runnext slot), so it need not cross threads.
//	go_locked_ping_pong: the same with each goroutine locked to its own OS
//	              thread (runtime.LockOSThread), so every message crosses.
//	go_one_way:   producer and consumer goroutines, buffer of 128, per message.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"time"
)

const pingPongs = 20000
const messages = 1000000
const runs = 7

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func report(name string, f func() float64) {
	v := make([]float64, 0, runs)
	for i := 0; i < runs; i++ {
		v = append(v, f())
	}
	fmt.Printf("%s %.1f\n", name, median(v))
}

func pingPong() float64 {
	to := make(chan uint64)
	back := make(chan uint64)
	go func() {
		for v := range to {
			back <- v + 1
		}
	}()
	start := time.Now()
	var v uint64
	for i := 0; i < pingPongs; i++ {
		to <- v
		v = <-back
	}
	ns := float64(time.Since(start).Nanoseconds()) / pingPongs
	close(to)
	return ns
}

func lockedPingPong() float64 {
	to := make(chan uint64)
	back := make(chan uint64)
	res := make(chan float64)
	go func() {
		runtime.LockOSThread()
		for v := range to {
			back <- v + 1
		}
	}()
	go func() {
		runtime.LockOSThread()
		start := time.Now()
		var v uint64
		for i := 0; i < pingPongs; i++ {
			to <- v
			v = <-back
		}
		ns := float64(time.Since(start).Nanoseconds()) / pingPongs
		close(to)
		res <- ns
	}()
	return <-res
}

func oneWay() float64 {
	ch := make(chan uint64, 128)
	done := make(chan uint64)
	go func() {
		var sum uint64
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	start := time.Now()
	for i := uint64(0); i < messages; i++ {
		ch <- i
	}
	close(ch)
	<-done
	return float64(time.Since(start).Nanoseconds()) / messages
}

func lockedOneWay() float64 {
	ch := make(chan uint64, 128)
	done := make(chan uint64)
	res := make(chan float64)
	go func() {
		runtime.LockOSThread()
		var sum uint64
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	go func() {
		runtime.LockOSThread()
		start := time.Now()
		for i := uint64(0); i < messages; i++ {
			ch <- i
		}
		close(ch)
		<-done
		res <- float64(time.Since(start).Nanoseconds()) / messages
	}()
	return <-res
}

func main() {
	report("go_ping_pong", pingPong)
	report("go_locked_ping_pong", lockedPingPong)
	report("go_one_way", oneWay)
	report("go_locked_one_way", lockedOneWay)
}
