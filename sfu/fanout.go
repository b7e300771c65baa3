package sfu

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
)

// fanoutChunk is the fewest slots worth handing to another core: below it
// the handoff (a channel send, a wake-up) costs more than it saves.
const fanoutChunk = 64

// fanout writes one packet of src to every slot carrying it, on the shared
// socket's batch when there is one. A fan-out longer than fanoutChunk is
// split: the chunks beyond the first go to the engine's workers, one per
// further core, and the reader forwards the first itself and waits for the
// rest, so one speaker heard by hundreds uses every core, and the next
// packet of the source starts only when this one went everywhere (per-slot
// order holds). It returns the packets written.
func (e *Engine) fanout(src *source, pkt *rtp.Packet, now int64) uint64 {
	slots := *src.slots.Load()
	if len(slots) >= 2*fanoutChunk && e.jobs != nil {
		return e.fanoutParallel(src, pkt, now, slots)
	}
	return e.forwardAll(src, pkt, now, slots)
}

// sealBufs are the fan-outs' scratch buffers: a direct path seals each
// packet in one before the batch copies it (slot.forward).
var sealBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// forwardAll forwards the packet to slots, corked.
func (e *Engine) forwardAll(src *source, pkt *rtp.Packet, now int64, slots []*slot) (sent uint64) {
	if e.batch != nil {
		e.batch.cork()
		defer e.batch.uncork()
	}
	buf := sealBufs.Get().(*[]byte)
	defer sealBufs.Put(buf)
	for _, s := range slots {
		if s.forward(src, pkt, now, &e.stats, buf) {
			sent++
		}
	}
	return sent
}

// fanoutJob is one chunk of a fan-out, run by a worker.
type fanoutJob struct {
	src   *source
	pkt   *rtp.Packet // read only while the job runs
	now   int64
	slots []*slot
	sent  *atomic.Uint64
	done  *sync.WaitGroup
}

// startWorkers starts one worker per core beyond the first, with the
// engine: they idle on a channel until a fan-out splits (and goroutine
// counts do not move when the first one does).
func (e *Engine) startWorkers() {
	if e.parallel <= 1 {
		return
	}
	e.jobs = make(chan fanoutJob, 4*e.parallel)
	for range e.parallel - 1 {
		e.workers.Add(1)
		go e.worker()
	}
}

func (e *Engine) fanoutParallel(src *source, pkt *rtp.Packet, now int64, slots []*slot) uint64 {
	chunks := min(e.parallel, len(slots)/fanoutChunk)
	size := (len(slots) + chunks - 1) / chunks
	var (
		sent atomic.Uint64
		done sync.WaitGroup
	)
	for at := size; at < len(slots); at += size {
		done.Add(1)
		e.jobs <- fanoutJob{src: src, pkt: pkt, now: now, slots: slots[at:min(at+size, len(slots))], sent: &sent, done: &done}
	}
	n := e.forwardAll(src, pkt, now, slots[:size])
	done.Wait()
	return n + sent.Load()
}

// worker runs fan-out chunks until the engine closes.
func (e *Engine) worker() {
	defer e.workers.Done()
	for j := range e.jobs {
		j.sent.Add(e.forwardAll(j.src, j.pkt, j.now, j.slots))
		e.stats.splits.Add(1)
		j.done.Done()
	}
}

// stopWorkers ends the workers, if there are any. Every router must be
// closed first: no fan-out may be running.
func (e *Engine) stopWorkers() {
	if e.jobs != nil {
		close(e.jobs)
		e.workers.Wait()
		e.jobs = nil
	}
}

// parallelism is how many goroutines one fan-out may use: the cores Go runs on.
func parallelism() int { return runtime.GOMAXPROCS(0) }
