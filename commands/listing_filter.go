package commands

// filterListing keeps the rows of a filtered listing's JSON output whose DAGs are in its scope, and
// prints them in the format the caller asked for.
func filterListing(inv *Invocation, res *Result, index *DAGIndex) {
	// TODO(scopes): filter and render; until then nothing of the listing is shown.
	res.Stdout = ""
}
