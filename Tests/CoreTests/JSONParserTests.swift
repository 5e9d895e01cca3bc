import Core
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValueWithPositions() throws {
        let json = try JSONParser.parse("{\n  \"a\": [1, -2.5e3, true, false, null],\n  \"b\": \"x\\u00e9\\n\"\n}")
        #expect(json.position == JSON.Position(line: 1, column: 1))
        let members = try #require(json.members)
        #expect(members.map(\.key) == ["a", "b"])
        #expect(members[0].keyPosition == JSON.Position(line: 2, column: 3))
        let array = try #require(json["a"]?.array)
        #expect(array.map(\.position.column) == [9, 12, 20, 26, 33])
        #expect(array[0].integer == 1)
        #expect(array[1].integer == nil)
        #expect(array[1].double == -2500)
        #expect(array[2].bool == true)
        #expect(json["b"]?.string == "xé\n")
    }

    @Test func columnsCountCharactersNotOctets() throws {
        let json = try JSONParser.parse("{\"é€\": 1, \"k\": 2}")
        #expect(json.members?[1].keyPosition.column == 11)
    }

    @Test func surrogatePairsDecodeToOneScalar() throws {
        #expect(try JSONParser.parse("\"\\ud834\\udd1e\"").string == "𝄞")
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse("\"\\ud834\"") }
    }

    @Test func keepsRepeatedKeysForValidationToReport() throws {
        #expect(try JSONParser.parse("{\"a\": 1, \"a\": 2}").members?.count == 2)
    }

    @Test(arguments: [
        ("", "1:1: expected a value, found the end of the text"),
        ("{\"a\": 1,}", "1:9: expected a field name in double quotes, found '}'"),
        ("[1 2]", "1:4: expected ',' or ']' in the array, found '2'"),
        ("{\"a\" 1}", "1:6: expected ':' after the field name \"a\", found '1'"),
        ("{\"a\": 01}", "1:7: numbers must not have leading zeros"),
        ("\"abc", "1:5: the string is not closed before the end of the text"),
        ("\"a\nb\"", "1:3: the string is not closed before the end of the line"),
        ("\"\\x\"", "1:3: unknown escape \\'x' in a string"),
        ("{}\n x", "2:2: unexpected 'x' after the end of the JSON value"),
        ("tru", "1:1: expected a value, found 't'"),
        ("// comment\n{}", "1:1: expected a value, found '/'"),
    ])
    func syntaxErrorsSayWhatAndWhere(text: String, expected: String) {
        do {
            _ = try JSONParser.parse(text)
            Issue.record("parsed \(text)")
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test func deepNestingIsRefusedNotOverflowingTheStack() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test func renderingRoundTrips() throws {
        let text = "{\"a\":[1,-2.5e3,true,false,null],\"b\":\"q\\\"\\\\\\n\\u0001é\",\"c\":{}}"
        let json = try JSONParser.parse(text)
        #expect(json.rendered() == text)
        #expect(try JSONParser.parse(json.rendered(pretty: true)).rendered() == text)
    }

    /// Text is copied in runs between its escapes: escapes first, last, side by side and between
    /// characters of several octets, and text with none, each as RFC 8259 writes it and read back whole.
    @Test(arguments: [
        ("", #""""#), ("plain text, no escape", #""plain text, no escape""#), ("\"édé\"", #""\"édé\"""#),
        ("a\\\u{1F}\n\"z", #""a\\\u001f\n\"z""#), ("日本\t語\r", #""日本\t語\r""#), ("\u{0}", #""\u0000""#),
        (String(repeating: "ü", count: 40) + "\"", "\"" + String(repeating: "ü", count: 40) + #"\"""#),
    ] as [(String, String)])
    func textIsQuotedWithItsEscapesAndReadBack(text: String, quoted: String) throws {
        #expect(JSON.string(text).rendered() == quoted)
        #expect(try JSONParser.parse(quoted).string == text)
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [
        ("250ms", 250), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("2d", 172_800_000),
        ("1h1m1s1ms", 3_661_001), ("0s", 0),
    ] as [(String, Int64)])
    func parsesDurations(text: String, milliseconds: Int64) {
        #expect(DurationText.parse(text) == milliseconds)
        #expect(DurationText.parse(DurationText.format(milliseconds)) == milliseconds)
    }

    @Test(arguments: ["", "30", "s", "30 s", "30sec", "1.5h", "-5s", "30m1h", "1h1h", "99999999999999s"])
    func refusesMalformedDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func formatsCompactly() {
        #expect(DurationText.format(5_400_000) == "1h30m")
        #expect(DurationText.format(1_250) == "1s250ms")
    }
}
