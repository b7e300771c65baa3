package bots

import (
	"testing"
	"time"
)

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Count() != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	// 1..100 ms in 1 ms steps: p50 = 50 ms, p99 = 99 ms.
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
		tol  time.Duration
	}{
		{0.5, 50 * time.Millisecond, histFineStep},
		{0.99, 99 * time.Millisecond, histFineStep},
		{1, 100 * time.Millisecond, 0},
		{0.001, time.Millisecond, histFineStep},
	} {
		got := h.Quantile(tc.q)
		if got < tc.want || got > tc.want+tc.tol {
			t.Errorf("q%v = %v, want %v (+%v)", tc.q, got, tc.want, tc.tol)
		}
	}
	if h.Mean() != 50500*time.Microsecond {
		t.Errorf("mean = %v", h.Mean())
	}
	if h.Min() != time.Millisecond || h.Max() != 100*time.Millisecond {
		t.Errorf("min/max = %v/%v", h.Min(), h.Max())
	}
}

func TestHistogramResolution(t *testing.T) {
	for _, tc := range []struct {
		d, tol time.Duration
	}{
		{1234 * time.Microsecond, histFineStep},
		{99_950 * time.Microsecond, histFineStep},
		{100 * time.Millisecond, histCoarseStep},
		{567_400 * time.Microsecond, histCoarseStep},
		{999_999 * time.Microsecond, histCoarseStep},
	} {
		var h Histogram
		h.Record(0)
		h.Record(tc.d)
		h.Record(2 * time.Second) // overflow; keeps the clamp from hiding the bucket
		got := h.Quantile(2.0 / 3)
		if got < tc.d || got > tc.d+tc.tol {
			t.Errorf("%v: median = %v, want within +%v", tc.d, got, tc.tol)
		}
	}
}

func TestHistogramOverflowAndNegative(t *testing.T) {
	var h Histogram
	h.Record(-time.Millisecond)
	h.Record(5 * time.Second)
	if got := h.Quantile(1); got != 5*time.Second {
		t.Errorf("max quantile = %v, want 5s", got)
	}
	if got := h.Quantile(0.5); got > histFineStep {
		t.Errorf("p50 = %v, want in the first bucket (negative clamps to 0)", got)
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * 37 * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	if m != all {
		t.Fatal("merge of parts differs from the whole")
	}
	c := m.Clone()
	c.Record(time.Second)
	if m.Count() == c.Count() {
		t.Fatal("clone shares state")
	}
}
