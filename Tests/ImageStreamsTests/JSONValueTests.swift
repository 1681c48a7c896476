import Foundation
import ImageStreams
import Testing

@Suite struct JSONValueTests {
    func value(_ json: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
    }

    @Test func theModeledValuesWinAndTheOthersStay() throws {
        let original = try value(#"{"metadata":{"name":"app","uid":"u1","labels":{"a":"b"}},"spec":{"lookupPolicy":{"local":true}},"extra":[1,2.5,null,false]}"#)
        let modeled = try value(#"{"metadata":{"name":"app","namespace":"proj"},"kind":"ImageStream"}"#)
        #expect(original.overlaid(with: modeled) == (try value(
            #"{"kind":"ImageStream","metadata":{"name":"app","namespace":"proj","uid":"u1","labels":{"a":"b"}},"spec":{"lookupPolicy":{"local":true}},"extra":[1,2.5,null,false]}"#)))
    }

    @Test func listElementsAreMatchedByIdentityAndTheModeledListDecidesWhichThereAre() throws {
        let original = try value(#"{"tags":[{"tag":"v1","conditions":["c"],"items":[{"image":"sha256:a","generation":3}]},{"tag":"gone","x":1}]}"#)
        let modeled = try value(#"{"tags":[{"tag":"v1","items":[{"image":"sha256:b"},{"image":"sha256:a"}]},{"tag":"new"}]}"#)
        #expect(original.overlaid(with: modeled) == (try value(
            #"{"tags":[{"tag":"v1","conditions":["c"],"items":[{"image":"sha256:b"},{"image":"sha256:a","generation":3}]},{"tag":"new"}]}"#)))
    }

    @Test func scalarsAndListsWithoutIdentityAreReplaced() throws {
        #expect((try value(#"{"a":[1,2],"b":"x"}"#)).overlaid(with: try value(#"{"a":[3],"b":"y"}"#)) == (try value(#"{"a":[3],"b":"y"}"#)))
    }

    @Test func bigIntegersAndYAMLRoundTrip() throws {
        let json = try value(#"{"generation":9007199254740993,"ratio":0.5,"on":true,"name":"v1"}"#)
        let encoded = try JSONEncoder().encode(json)
        #expect(try JSONDecoder().decode(JSONValue.self, from: encoded) == json)
        let yaml = try ImageStreamCatalog.decodeDocument(Data("generation: 9007199254740993\nratio: 0.5\non: true\nname: v1\n".utf8), json: false)
        #expect(yaml == json)
    }
}
