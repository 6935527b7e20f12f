package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ocisource/ocisource"
)

// redrawInterval is the shortest time between two redraws of the download
// bar; phase changes and the end of the download are drawn at once.
const redrawInterval = 100 * time.Millisecond

// barWidth is the number of cells of the bar itself, chosen so that the
// longest download line fits an 80-column terminal (a line that wraps cannot
// be redrawn with a carriage return).
const barWidth = 20

// maxLineWidth bounds every line the bar draws, in runes.
const maxLineWidth = 79

// progressBar draws fetch progress on one line of a terminal, rewriting it
// with a carriage return (no escape sequences, so a log file that captures it
// stays readable). It is fed by ocisource.WithProgress, which calls it from
// the fetching goroutine only, so it needs no lock.
type progressBar struct {
	w        io.Writer
	now      func() time.Time
	interval time.Duration

	phase    ocisource.Phase
	start    time.Time // of the download
	lastDraw time.Time
	lastLen  int  // length of the line on screen, to blank what a shorter line leaves
	open     bool // a line is on screen without its newline
	draws    int  // redraws so far (for tests of the throttle)
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, now: time.Now, interval: redrawInterval}
}

// update handles one progress event.
func (b *progressBar) update(p ocisource.Progress) {
	now := b.now()
	prev := b.phase
	b.phase = p.Phase
	switch p.Phase {
	case ocisource.PhaseResolve:
		b.draw(now, "resolving…")
	case ocisource.PhaseVerify:
		b.draw(now, "verifying "+shortRevision(p.Revision))
	case ocisource.PhaseDownload:
		if prev != ocisource.PhaseDownload {
			b.start = now
		} else if now.Sub(b.lastDraw) < b.interval && (p.Total <= 0 || p.Bytes < p.Total) {
			return // throttled
		}
		b.draw(now, b.downloadLine(now, p.Bytes, p.Total))
	case ocisource.PhaseDone:
		if prev == ocisource.PhaseDownload {
			b.draw(now, b.downloadLine(now, p.Total, p.Total))
			b.newline()
			return
		}
		b.clear() // a cache hit: the transient "resolving" line goes
	}
}

// finish ends a line left open by a fetch that failed, so that the error
// message starts on a line of its own, after the last state drawn.
func (b *progressBar) finish() {
	if b.open {
		b.newline()
	}
}

func (b *progressBar) downloadLine(now time.Time, n, total int64) string {
	var s strings.Builder
	s.WriteString("downloading ")
	if total > 0 {
		if n > total {
			n = total
		}
		filled := int(int64(barWidth) * n / total)
		s.WriteString("[" + strings.Repeat("=", filled))
		if filled < barWidth {
			s.WriteString(">" + strings.Repeat(" ", barWidth-filled-1))
		}
		fmt.Fprintf(&s, "] %3d%%  %s / %s", 100*n/total, humanBytes(n), humanBytes(total))
	} else {
		s.WriteString(humanBytes(n))
	}
	if d := now.Sub(b.start); d >= 500*time.Millisecond {
		fmt.Fprintf(&s, "  %s/s", humanBytes(int64(float64(n)/d.Seconds())))
	}
	return s.String()
}

// shortRevision abbreviates "<tag>@sha256:<hex>" to the first 12 hex digits.
func shortRevision(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 && len(rev)-i-1 > 12 {
		rev = rev[:i+13] + "…"
	}
	return rev
}

func (b *progressBar) draw(now time.Time, line string) {
	if r := []rune(line); len(r) > maxLineWidth {
		line = string(r[:maxLineWidth-1]) + "…"
	}
	width := utf8.RuneCountInString(line)
	pad := ""
	if width < b.lastLen {
		pad = strings.Repeat(" ", b.lastLen-width)
	}
	fmt.Fprint(b.w, "\r"+line+pad)
	b.lastLen = width
	b.lastDraw = now
	b.open = true
	b.draws++
}

func (b *progressBar) clear() {
	if b.open {
		fmt.Fprint(b.w, "\r"+strings.Repeat(" ", b.lastLen)+"\r")
	}
	b.open, b.lastLen = false, 0
}

func (b *progressBar) newline() {
	fmt.Fprint(b.w, "\n")
	b.open, b.lastLen = false, 0
}
