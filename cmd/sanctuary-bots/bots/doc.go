// Package bots implements the pion load-test bots of the Sanctuary SFU.
//
// A Bot is one participant: it joins a session over the signaling
// websocket, answers the server's single offer, sends Opus packets when it
// speaks and counts every packet it receives on its downstream slots. Every
// packet a bot sends carries a signature in the Opus padding (see
// Signature), so receivers attribute packets from their content, never from
// the server's slot labels: a packet that reaches a bot from outside its
// expected audience is counted as foreign (a leak). Where a listener may
// hear more speakers than it has slots, it is owed only what the server
// put in its slots, judged from each slot's sequence numbers and the
// signatures (slotAccount), so loss is exact with any number of speakers.
//
// Run drives a whole load run (mint tokens, join N bots, warm up, measure a
// window, summarise into a Report); cmd/sanctuary-bots is its CLI. With
// RunConfig.Breakouts the host bot also creates breakout rooms, assigns
// everyone and moves bots between them through the window (a Controller
// sends the session commands on its socket), and the report adds the
// moves, their times and loss that follows the rooms.
//
// A Bot follows `redirect` to the node that owns its session. A Keeper
// keeps one participant in its session as a browser does: when the bot's
// socket ends it resumes on the same node (the PeerConnection kept); when
// that node is gone, it drops the PeerConnection without a leave and joins
// again with the same token through a list of node URLs (a load
// balancer's stand-in), retrying refused connections, redirects to the
// dead node and session_moving with a bounded backoff until a live node
// has taken the session over: the same participant id, role and room, on
// a new PeerConnection (PROTOCOL.md, "Failover").
//
// Every bot binds ICE to loopback only (see NewAPI): load tests never send a
// packet off the machine.
package bots
