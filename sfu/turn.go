package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/pion/turn/v5"
)

// TURNConfig configures the embedded TURN server (RFC 8656, pion/turn): one
// port serving TURN over UDP and over TCP, for clients behind a symmetric
// NAT or a firewall that lets only TCP out. Credentials follow the TURN REST
// scheme (coturn's use-auth-secret): username "expiry:id", password
// base64(HMAC-SHA1(Secret, username)), refused once expired.
type TURNConfig struct {
	Port int // UDP and TCP port; required
	// ListenAddress is the address the port binds; "" means all.
	ListenAddress string
	// RelayIP is the address relayed traffic leaves from and the one
	// clients are told to send to: this server's public address.
	RelayIP net.IP
	Realm   string // "" means "sanctuary"
	Secret  string // the shared secret credentials are signed with; required
	// PeerIPs are the only addresses relayed traffic may go to: this
	// server's own ICE addresses. A TURN server that relays anywhere is an
	// open proxy into the networks it can reach.
	PeerIPs []net.IP
	Logger  *slog.Logger
}

// TURNServer is a running embedded TURN server.
type TURNServer struct {
	srv *turn.Server
	udp net.PacketConn
	tcp net.Listener
}

// StartTURN starts the embedded TURN server of c.
func StartTURN(c TURNConfig) (*TURNServer, error) {
	if c.Port <= 0 || c.Secret == "" || c.RelayIP == nil {
		return nil, errors.New("sfu: TURN needs a port, a secret and a relay address")
	}
	if c.Realm == "" {
		c.Realm = "sanctuary"
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	addr := net.JoinHostPort(c.ListenAddress, strconv.Itoa(c.Port))
	udp, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("sfu: TURN listen udp %s: %w", addr, err)
	}
	tcp, err := net.Listen("tcp4", addr)
	if err != nil {
		_ = udp.Close()
		return nil, fmt.Errorf("sfu: TURN listen tcp %s: %w", addr, err)
	}
	allowed := make(map[string]bool, len(c.PeerIPs))
	for _, ip := range c.PeerIPs {
		allowed[ip.String()] = true
	}
	permit := func(client net.Addr, peer net.IP) bool {
		if allowed[peer.String()] {
			return true
		}
		log.Warn("TURN: relay to a foreign address refused", "client", client.String(), "peer", peer.String())
		return false
	}
	listenIP := c.ListenAddress
	if listenIP == "" {
		listenIP = "0.0.0.0"
	}
	relay := func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: c.RelayIP, Address: listenIP}
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:             c.Realm,
		AuthHandler:       turn.LongTermTURNRESTAuthHandler(c.Secret, nil),
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: relay(), PermissionHandler: permit}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: tcp, RelayAddressGenerator: relay(), PermissionHandler: permit}},
	})
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		return nil, fmt.Errorf("sfu: TURN: %w", err)
	}
	return &TURNServer{srv: srv, udp: udp, tcp: tcp}, nil
}

// Close stops the TURN server and its allocations.
func (t *TURNServer) Close() error { return t.srv.Close() }

// LocalIPs returns the addresses of this machine's interfaces that are up
// (loopback included when loopback is set): the addresses of this server's
// host candidates, for TURNConfig.PeerIPs.
func LocalIPs(loopback bool) ([]net.IP, error) {
	ifcs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("sfu: interfaces: %w", err)
	}
	var ips []net.IP
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagUp == 0 || (!loopback && ifc.Flags&net.FlagLoopback != 0) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ips = append(ips, ipn.IP)
			}
		}
	}
	return ips, nil
}
