import Testing
import ZeroMQ

private let z85Alphabet = Set(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

@Test
func curveKeyPairIsTwoFortyCharacterZ85Strings() throws {
    let keys = try Curve.keyPair()
    #expect(keys.publicKey.count == 40)
    #expect(keys.secretKey.count == 40)
    #expect(keys.publicKey.allSatisfy(z85Alphabet.contains))
    #expect(keys.secretKey.allSatisfy(z85Alphabet.contains))
    #expect(keys.publicKey != keys.secretKey)
    #expect(try Curve.keyPair().publicKey != keys.publicKey)
}

@Test
func curveServerAndClientExchangeMessagesOverTCP() throws {
    let serverKeys = try Curve.keyPair()
    let clientKeys = try Curve.keyPair()
    let context = try Context()
    let server = try makeSocket(context, .router)
    try server.setCurveServer(true)
    try server.setCurveSecretKey(serverKeys.secretKey)
    let client = try makeSocket(context, .dealer)
    try client.setCurveServerKey(serverKeys.publicKey)
    try client.setCurvePublicKey(clientKeys.publicKey)
    try client.setCurveSecretKey(clientKeys.secretKey)
    try link(server, client, over: .tcp)

    try client.send([bytes("JSB01"), bytes("secret job")])
    let request = try #require(try server.receive())
    #expect(Array(request.dropFirst()) == [bytes("JSB01"), bytes("secret job")])
    try server.send([request[0], bytes("accepted")])
    #expect(try client.receive() == [bytes("accepted")])
}

@Test
func curveClientWithTheWrongServerKeyIsNeverHeard() throws {
    let serverKeys = try Curve.keyPair()
    let impostorKeys = try Curve.keyPair()
    let clientKeys = try Curve.keyPair()
    let context = try Context()
    let server = try makeSocket(context, .pull)
    try server.setCurveServer(true)
    try server.setCurveSecretKey(serverKeys.secretKey)
    let client = try makeSocket(context, .push)
    try client.setCurveServerKey(impostorKeys.publicKey)
    try client.setCurvePublicKey(clientKeys.publicKey)
    try client.setCurveSecretKey(clientKeys.secretKey)
    try link(server, client, over: .tcp)

    try client.send(bytes("secret job"))
    // Proving absence needs a wait that runs out; keep it short.
    try server.setReceiveTimeout(milliseconds: 300)
    #expect(try server.receive() == nil)
}
