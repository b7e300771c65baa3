package bots

import "time"

// Histogram bucket layout: 0.1 ms buckets up to 100 ms, 1 ms buckets from
// 100 ms to 1 s, one overflow bucket above. About 15 KB, so a bot of a run
// of a thousand keeps its own without trouble; loopback latencies live in
// the fine part.
const (
	histFineStep   = 100 * time.Microsecond // resolution below histFineMax
	histFineMax    = 100 * time.Millisecond
	histCoarseStep = time.Millisecond // resolution from histFineMax to histMax
	histMax        = time.Second      // values above go to the overflow bucket

	histFine     = int(histFineMax / histFineStep)               // 1000 buckets
	histCoarse   = int((histMax - histFineMax) / histCoarseStep) // 900 buckets
	histBuckets  = histFine + histCoarse + 1                     // + overflow
	histOverflow = histBuckets - 1                               // index of the overflow bucket
)

// Histogram is a fixed-bucket latency histogram: 0.1 ms resolution up to
// 100 ms, 1 ms up to 1 s, and an overflow bucket. Its size never grows.
// The zero value is empty and ready. It is not safe for concurrent use.
type Histogram struct {
	buckets  [histBuckets]uint64
	count    uint64
	sum      time.Duration
	min, max time.Duration // valid when count > 0
}

// bucketOf returns the bucket index of d (d >= 0).
func bucketOf(d time.Duration) int {
	switch {
	case d < histFineMax:
		return int(d / histFineStep)
	case d < histMax:
		return histFine + int((d-histFineMax)/histCoarseStep)
	default:
		return histOverflow
	}
}

// upperBound is the largest value bucket i holds (exclusive bound).
func upperBound(i int) time.Duration {
	if i < histFine {
		return time.Duration(i+1) * histFineStep
	}
	return histFineMax + time.Duration(i-histFine+1)*histCoarseStep
}

// Record adds one observation. Negative durations (clock steps) count as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[bucketOf(d)]++
	if h.count == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.count++
	h.sum += d
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	for i, n := range o.buckets {
		h.buckets[i] += n
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.count += o.count
	h.sum += o.sum
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// Max returns the largest observation, 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Min returns the smallest observation, 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Mean returns the mean observation, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return h.sum / time.Duration(h.count)
}

// Quantile returns the q-quantile (0 < q <= 1) by nearest rank: the upper
// bound of the bucket holding the ceil(q*count)-th smallest observation,
// clamped to [Min, Max]; so it overestimates by less than one bucket. It
// returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.count) + 0.999999999)
	rank = max(rank, 1)
	rank = min(rank, h.count)
	var seen uint64
	for i, n := range h.buckets {
		seen += n
		if seen < rank {
			continue
		}
		if i == histOverflow {
			return h.max
		}
		return min(max(upperBound(i), h.min), h.max)
	}
	return h.max
}

// Clone returns a copy of h.
func (h *Histogram) Clone() *Histogram {
	c := *h
	return &c
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
