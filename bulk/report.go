package bulk

import (
	"encoding/csv"
	"io"
	"strconv"
)

// ReportHeader is the first line of an error report.
var ReportHeader = []string{"line", "row", "column", "reason"}

// ReportWriter writes an error report: one CSV line per problem of a bad row (line, row,
// column, reason), so a row with two bad values has two lines.
type ReportWriter struct {
	w *csv.Writer
}

// NewReportWriter writes a report to w, starting with ReportHeader when header is set (a
// new report rather than one being continued).
func NewReportWriter(w io.Writer, header bool) (*ReportWriter, error) {
	rw := &ReportWriter{w: csv.NewWriter(w)}
	if header {
		if err := rw.w.Write(ReportHeader); err != nil {
			return nil, err
		}
	}
	return rw, nil
}

// Write adds the problems of one bad row.
func (rw *ReportWriter) Write(problems []Problem) error {
	for _, p := range problems {
		if err := rw.w.Write([]string{strconv.FormatInt(p.Line, 10), strconv.FormatInt(p.Row, 10), p.Column, p.Reason}); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes what is buffered to the underlying writer.
func (rw *ReportWriter) Flush() error {
	rw.w.Flush()
	return rw.w.Error()
}
