import JSON
import Testing

@Suite struct JSONTests {
    @Test func parsesAndWritesBackTheSameDocument() throws {
        let text = #"{"a":1,"b":[true,false,null],"c":"é\u00e9\ud83d\ude00","d":-2.5,"e":{}}"#
        let value = try JSONParser.parse(text)
        #expect(value["a"] == 1)
        #expect(value["c"] == "éé😀")
        #expect(value["d"] == .double(-2.5))
        #expect(value.jsonString == #"{"a":1,"b":[true,false,null],"c":"éé😀","d":-2.5,"e":{}}"#)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "\"\\x\"", "tru", "{\"a\" 1}", "\"\u{01}\"", "{\"a\":1,\"a\":2}", "1 2"])
    func refusesMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func integersAreWrittenAsTheirDecimalDigits() {
        for value in [0, 7, -7, 10, -10, 123_456_789, Int.max, Int.min, Int.max - 1, Int.min + 1] {
            var writer = JSONWriter()
            writer.append("[")
            writer.writeInt(value)
            writer.append("]")
            #expect(String(decoding: writer.bytes, as: UTF8.self) == "[\(value)]")
        }
    }

    @Test func stringsWithAndWithoutEscapesParseTheSame() throws {
        #expect(try JSONParser.parse(#"["plain","é✓😀","a\"b","\u00e9x","x\\","",",:{}"]"#)
                == .array(["plain", "é✓😀", "a\"b", "éx", "x\\", "", ",:{}"]))
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
    }

    @Test func integersStayIntegers() throws {
        #expect(try JSONParser.parse("3") == .int(3))
        #expect(try JSONParser.parse("3.0") == .double(3))
        #expect(try JSONParser.parse("1e2") == .double(100))
    }
}
