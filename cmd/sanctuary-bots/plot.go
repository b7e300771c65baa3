package main

// `sanctuary-bots plot` draws the bench's figures against participants,
// from the reports bench.sh saved: server CPU per forwarded packet beside
// the floor measured in the same run, and server RSS per participant. One
// SVG, no dependency: two scatter panels with the shapes' names.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// plotPoint is one shape's figures.
type plotPoint struct {
	name         string
	participants float64
	cpuUs        float64 // server CPU µs per forwarded packet
	floorUs      float64 // 0: not measured
	rssKB        float64 // server RSS growth per participant
}

func runPlot(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sanctuary-bots plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "bench-results", "directory of the bench's <shape>.json and <shape>.floor.json")
	out := fs.String("out", "", "SVG file to write (default: <dir>/bench.svg)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "sanctuary-bots plot: name the shapes to plot (their <shape>.json in -dir)")
		return 2
	}
	var points []plotPoint
	for _, name := range fs.Args() {
		p, err := readPlotPoint(*dir, name)
		if err != nil {
			fmt.Fprintf(stderr, "sanctuary-bots plot: %s: %v (left out)\n", name, err)
			continue
		}
		points = append(points, p)
	}
	if len(points) == 0 {
		fmt.Fprintln(stderr, "sanctuary-bots plot: no shape has figures to plot")
		return 1
	}
	if *out == "" {
		*out = filepath.Join(*dir, "bench.svg")
	}
	if err := os.WriteFile(*out, []byte(plotSVG(points)), 0o644); err != nil {
		fmt.Fprintln(stderr, "sanctuary-bots plot:", err)
		return 2
	}
	fmt.Fprintf(stdout, "wrote %s (%d shapes)\n", *out, len(points))
	return 0
}

func readPlotPoint(dir, name string) (plotPoint, error) {
	var rep struct {
		Joined    int      `json:"joined"`
		CPU       *float64 `json:"server_cpu_us_per_packet"`
		RSSPerKB  *float64 `json:"server_rss_kb_per_participant"`
		Forwarded float64  `json:"server_forwarded_pps"`
	}
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		return plotPoint{}, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return plotPoint{}, err
	}
	if rep.CPU == nil || rep.RSSPerKB == nil || rep.Joined == 0 {
		return plotPoint{}, errors.New("no server CPU or RSS in the report (was -server-pid given?)")
	}
	p := plotPoint{name: name, participants: float64(rep.Joined), cpuUs: *rep.CPU, rssKB: *rep.RSSPerKB}
	var fl floorReport
	if b, err := os.ReadFile(filepath.Join(dir, name+".floor.json")); err == nil && json.Unmarshal(b, &fl) == nil {
		p.floorUs = fl.CPUUsPerPacket
	}
	return p, nil
}

// Panel geometry, in SVG user units.
const (
	plotW, plotH       = 460, 300 // one panel
	plotLeft, plotTop  = 60, 40
	plotRight, plotBot = 20, 50
)

// plotSVG draws the two panels side by side.
func plotSVG(points []plotPoint) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n",
		2*plotW, plotH)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	maxN := 0.0
	maxCPU, maxRSS := 0.0, 0.0
	for _, p := range points {
		maxN = math.Max(maxN, p.participants)
		maxCPU = math.Max(maxCPU, math.Max(p.cpuUs, p.floorUs))
		maxRSS = math.Max(maxRSS, p.rssKB)
	}
	panel(&b, 0, "Server CPU per forwarded packet (µs)", "participants", maxN, maxCPU, points,
		[]series{{"server", "#1f6fb2", "circle", func(p plotPoint) float64 { return p.cpuUs }},
			{"floor (seal + sendto)", "#999999", "square", func(p plotPoint) float64 { return p.floorUs }}})
	panel(&b, plotW, "Server RSS per participant (KB)", "participants", maxN, maxRSS, points,
		[]series{{"server", "#b2481f", "circle", func(p plotPoint) float64 { return p.rssKB }}})
	b.WriteString("</svg>\n")
	return b.String()
}

type series struct {
	label, color, mark string
	y                  func(plotPoint) float64 // 0: no point
}

func panel(b *strings.Builder, x0 float64, title, xlabel string, maxX, maxY float64, points []plotPoint, ss []series) {
	w, h := plotW-plotLeft-plotRight, plotH-plotTop-plotBot
	xMax, yMax := niceCeil(maxX), niceCeil(maxY)
	px := func(v float64) float64 { return x0 + plotLeft + v/xMax*float64(w) }
	py := func(v float64) float64 { return plotTop + float64(h) - v/yMax*float64(h) }
	fmt.Fprintf(b, `<text x="%.1f" y="16" font-weight="bold">%s</text>`+"\n", x0+10, html.EscapeString(title))
	// Axes and ticks: five steps each.
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(0), py(0), px(xMax), py(0))
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", px(0), py(0), px(0), py(yMax))
	for i := 0; i <= 5; i++ {
		xv, yv := xMax*float64(i)/5, yMax*float64(i)/5
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(xv), py(0)+16, tick(xv))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px(0)-6, py(yv)+4, tick(yv))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eeeeee"/>`+"\n", px(0)+1, py(yv), px(xMax), py(yv))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(xMax/2), py(0)+34, xlabel)
	for i, s := range ss {
		// The legend sits above the plot, right of the title: never on a point.
		ly := 12 + 14*float64(i)
		mark(b, s.mark, s.color, x0+plotW-170, ly)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x0+plotW-160, ly+4, html.EscapeString(s.label))
		for _, p := range points {
			v := s.y(p)
			if v <= 0 {
				continue
			}
			mark(b, s.mark, s.color, px(p.participants), py(v))
			if i == 0 {
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10">%s</text>`+"\n",
					px(p.participants)+6, py(v)-6, html.EscapeString(p.name))
			}
		}
	}
}

func mark(b *strings.Builder, kind, color string, x, y float64) {
	if kind == "square" {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s"/>`+"\n", x-4, y-4, color)
		return
	}
	fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s"/>`+"\n", x, y, color)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
