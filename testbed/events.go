package testbed

import (
	"io"

	"github.com/airflow-gateway/airflow-gateway/cmd/airflow-gateway/client"
)

// Event is one Server-Sent Event as a client sees it.
type Event struct {
	Name string // "message" when the stream did not name it
	ID   string
	Data string
}

// ReadEvents reads Server-Sent Events from r as the gateway's own client does, and hands each to fn until
// fn returns false or the stream ends.
func ReadEvents(r io.Reader, fn func(Event) bool) error {
	return client.ReadEvents(r, func(name, id, data string) bool { return fn(Event{Name: name, ID: id, Data: data}) })
}
