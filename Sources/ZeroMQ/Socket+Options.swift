internal import CZeroMQ

// Most options only affect later bind/connect calls, so set them first. SUBSCRIBE, UNSUBSCRIBE, LINGER,
// ROUTER_MANDATORY, SNDHWM and RCVHWM also act on existing connections.
extension Socket {
    /// How long `close()` keeps unsent messages for delivery (`ZMQ_LINGER`): 0 drops them, -1 waits forever.
    public func setLinger(milliseconds: Int32) throws {
        try setOption(ZMQ_LINGER, "LINGER", milliseconds)
    }

    /// Outgoing queue limit per peer in messages (`ZMQ_SNDHWM`); 0 means unbounded, which Baton avoids.
    public func setSendHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_SNDHWM, "SNDHWM", messages)
    }

    /// Incoming queue limit per peer in messages (`ZMQ_RCVHWM`); 0 means unbounded, which Baton avoids.
    public func setReceiveHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_RCVHWM, "RCVHWM", messages)
    }

    /// Receives messages whose first frame starts with `prefix` (`ZMQ_SUBSCRIBE`, SUB only); empty means all.
    public func subscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_SUBSCRIBE, "SUBSCRIBE", bytes: prefix)
    }

    /// Receives messages whose first frame starts with the UTF-8 bytes of `prefix` (`ZMQ_SUBSCRIBE`).
    public func subscribe(_ prefix: String) throws {
        try subscribe(Array(prefix.utf8))
    }

    /// Removes one earlier `subscribe` of the same `prefix` (`ZMQ_UNSUBSCRIBE`); subscriptions are counted.
    public func unsubscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_UNSUBSCRIBE, "UNSUBSCRIBE", bytes: prefix)
    }

    /// Removes one earlier `subscribe` of the UTF-8 bytes of `prefix` (`ZMQ_UNSUBSCRIBE`).
    public func unsubscribe(_ prefix: String) throws {
        try unsubscribe(Array(prefix.utf8))
    }

    /// Makes a ROUTER report unroutable messages (`ZMQ_ROUTER_MANDATORY`) instead of dropping them silently:
    /// EHOSTUNREACH for an unknown routing id, EAGAIN (`send` returns false) for a full peer. Send with `dontWait`,
    /// or a full peer blocks the sender.
    public func setRouterMandatory(_ enabled: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, "ROUTER_MANDATORY", enabled ? 1 : 0)
    }

    /// Queues messages only to completed connections (`ZMQ_IMMEDIATE`), so a missing peer shows as EAGAIN.
    public func setImmediate(_ enabled: Bool) throws {
        try setOption(ZMQ_IMMEDIATE, "IMMEDIATE", enabled ? 1 : 0)
    }

    /// Reconnect delay after a lost connection (`ZMQ_RECONNECT_IVL`), doubling on each failed attempt up to
    /// `maximum` (`ZMQ_RECONNECT_IVL_MAX`); a `maximum` of 0 keeps the delay fixed.
    public func setReconnectInterval(milliseconds: Int32, maximum: Int32 = 0) throws {
        try setOption(ZMQ_RECONNECT_IVL, "RECONNECT_IVL", milliseconds)
        try setOption(ZMQ_RECONNECT_IVL_MAX, "RECONNECT_IVL_MAX", maximum)
    }

    /// Turns on TCP keepalive (`ZMQ_TCP_KEEPALIVE`) with the given idle time, probe interval and probe count.
    public func setTCPKeepalive(idleSeconds: Int32, intervalSeconds: Int32, count: Int32) throws {
        try setOption(ZMQ_TCP_KEEPALIVE, "TCP_KEEPALIVE", 1)
        try setOption(ZMQ_TCP_KEEPALIVE_IDLE, "TCP_KEEPALIVE_IDLE", idleSeconds)
        try setOption(ZMQ_TCP_KEEPALIVE_INTVL, "TCP_KEEPALIVE_INTVL", intervalSeconds)
        try setOption(ZMQ_TCP_KEEPALIVE_CNT, "TCP_KEEPALIVE_CNT", count)
    }

    /// Largest inbound message in bytes (`ZMQ_MAXMSGSIZE`); a peer sending more is disconnected. -1 is no limit.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, "MAXMSGSIZE", int64: bytes)
    }

    /// The routing id a ROUTER peer sees for this socket (`ZMQ_ROUTING_ID`): 1 to 255 bytes, not starting with 0.
    public func setRoutingID(_ id: [UInt8]) throws {
        try setOption(ZMQ_ROUTING_ID, "ROUTING_ID", bytes: id)
    }

    /// How long a blocking send waits before returning false (`ZMQ_SNDTIMEO`); -1 waits forever.
    public func setSendTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, "SNDTIMEO", milliseconds)
    }

    /// How long a blocking receive waits before returning nil (`ZMQ_RCVTIMEO`); -1 waits forever.
    public func setReceiveTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_RCVTIMEO, "RCVTIMEO", milliseconds)
    }

    /// Time allowed for the ZMTP (and CURVE) handshake before the connection is dropped (`ZMQ_HANDSHAKE_IVL`).
    public func setHandshakeInterval(milliseconds: Int32) throws {
        try setOption(ZMQ_HANDSHAKE_IVL, "HANDSHAKE_IVL", milliseconds)
    }

    /// Time allowed for a TCP connect before it is retried (`ZMQ_CONNECT_TIMEOUT`); 0 leaves it to the OS.
    public func setConnectTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_CONNECT_TIMEOUT, "CONNECT_TIMEOUT", milliseconds)
    }

    /// Makes this socket the CURVE server side (`ZMQ_CURVE_SERVER`); set the secret key too, before binding.
    ///
    /// Without a ZAP handler libzmq 4.3.4 accepts every client key: encryption without client authentication.
    public func setCurveServer(_ enabled: Bool) throws {
        try setOption(ZMQ_CURVE_SERVER, "CURVE_SERVER", enabled ? 1 : 0)
    }

    /// This socket's long-term secret key as 40 Z85 characters (`ZMQ_CURVE_SECRETKEY`).
    public func setCurveSecretKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_SECRETKEY, "CURVE_SECRETKEY", bytes: Array(z85.utf8))
    }

    /// This socket's long-term public key as 40 Z85 characters (`ZMQ_CURVE_PUBLICKEY`); CURVE clients only.
    public func setCurvePublicKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_PUBLICKEY, "CURVE_PUBLICKEY", bytes: Array(z85.utf8))
    }

    /// The server's public key as 40 Z85 characters (`ZMQ_CURVE_SERVERKEY`); makes this socket a CURVE client.
    public func setCurveServerKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, "CURVE_SERVERKEY", bytes: Array(z85.utf8))
    }

    /// The ZAP domain of this server socket (`ZMQ_ZAP_DOMAIN`): it makes libzmq ask the ZAP handler about every
    /// connection, and tells the handler which socket is asked for. Set before binding.
    public func setZAPDomain(_ domain: String) throws {
        try setOption(ZMQ_ZAP_DOMAIN, "ZAP_DOMAIN", bytes: Array(domain.utf8))
    }

    /// On an XPUB, applies no subscription on its own (`ZMQ_XPUB_MANUAL`): each one is read from the socket,
    /// with the subscriber's metadata, and takes effect only when the owner passes it to ``subscribe(_:)-([UInt8])``
    /// before reading the next.
    public func setXPubManual(_ enabled: Bool) throws {
        try setOption(ZMQ_XPUB_MANUAL, "XPUB_MANUAL", enabled ? 1 : 0)
    }

    private func setOption(_ option: Int32, _ name: String, _ value: Int32) throws {
        let handle = try openHandle("setsockopt \(name)")
        let result = withUnsafeBytes(of: value) { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("setsockopt \(name)") }
    }

    private func setOption(_ option: Int32, _ name: String, int64 value: Int64) throws {
        let handle = try openHandle("setsockopt \(name)")
        let result = withUnsafeBytes(of: value) { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("setsockopt \(name)") }
    }

    private func setOption(_ option: Int32, _ name: String, bytes: [UInt8]) throws {
        let handle = try openHandle("setsockopt \(name)")
        let result = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard result == 0 else { throw ZMQError.last("setsockopt \(name)") }
    }
}
