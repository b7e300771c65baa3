package bots

import (
	"net"
	"sync/atomic"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// Outage is a switch on the network of the bots of one API: while it is
// on, their UDP sockets drop every packet in both directions, as a Wi-Fi
// that drops out for a moment does. The sockets are real UDP sockets; only
// the packets crossing them while the switch is on are discarded. For
// tests of what a network outage does to a session (chaos tests).
type Outage struct{ on atomic.Bool }

// Set turns the outage on or off.
func (o *Outage) Set(on bool) { o.on.Store(on) }

// NewAPIWithOutage is NewAPI for UDP, with an Outage switch on its bots'
// sockets. Give the API to one bot to cut that bot alone.
func NewAPIWithOutage(loopbackOnly bool) (*webrtc.API, *Outage, error) {
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, nil, err
	}
	o := &Outage{}
	api, err := newAPI(loopbackOnly, &outageNet{Net: std, o: o})
	return api, o, err
}

// outageNet is the operating system's network with every UDP socket
// behind its Outage.
type outageNet struct {
	*stdnet.Net
	o *Outage
}

func (n *outageNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &outageConn{UDPConn: c, o: n.o}, nil
}

func (n *outageNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return &outagePacketConn{PacketConn: c, o: n.o}, nil
}

// outageConn drops what it reads and writes while the outage is on.
type outageConn struct {
	transport.UDPConn
	o *Outage
}

func (c *outageConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(p)
		if err != nil || !c.o.on.Load() {
			return n, addr, err
		}
	}
}

func (c *outageConn) ReadFromUDP(p []byte) (int, *net.UDPAddr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDP(p)
		if err != nil || !c.o.on.Load() {
			return n, addr, err
		}
	}
}

func (c *outageConn) ReadMsgUDP(p, oob []byte) (int, int, int, *net.UDPAddr, error) {
	for {
		n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDP(p, oob)
		if err != nil || !c.o.on.Load() {
			return n, oobn, flags, addr, err
		}
	}
}

func (c *outageConn) Read(p []byte) (int, error) {
	for {
		n, err := c.UDPConn.Read(p)
		if err != nil || !c.o.on.Load() {
			return n, err
		}
	}
}

func (c *outageConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.o.on.Load() {
		return len(p), nil // lost on the way
	}
	return c.UDPConn.WriteTo(p, addr)
}

func (c *outageConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if c.o.on.Load() {
		return len(p), nil
	}
	return c.UDPConn.WriteToUDP(p, addr)
}

func (c *outageConn) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (int, int, error) {
	if c.o.on.Load() {
		return len(p), len(oob), nil
	}
	return c.UDPConn.WriteMsgUDP(p, oob, addr)
}

func (c *outageConn) Write(p []byte) (int, error) {
	if c.o.on.Load() {
		return len(p), nil
	}
	return c.UDPConn.Write(p)
}

// outagePacketConn is outageConn for sockets opened with ListenPacket.
type outagePacketConn struct {
	net.PacketConn
	o *Outage
}

func (c *outagePacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.o.on.Load() {
			return n, addr, err
		}
	}
}

func (c *outagePacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.o.on.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}
