@testable import Server
import Testing

@Suite struct ByteRangeTests {
    @Test(arguments: [
        (nil, 100, ByteRange.Outcome.whole),
        ("bytes=0-1", 100, .partial(ByteRange(start: 0, end: 1))),
        ("bytes=10-", 100, .partial(ByteRange(start: 10, end: 99))),
        ("bytes=-10", 100, .partial(ByteRange(start: 90, end: 99))),
        ("bytes=-1000", 100, .partial(ByteRange(start: 0, end: 99))),
        ("bytes=50-5000", 100, .partial(ByteRange(start: 50, end: 99))),
        ("bytes=99-99", 100, .partial(ByteRange(start: 99, end: 99))),
        ("bytes=100-", 100, .unsatisfiable),
        ("bytes=5-4", 100, .unsatisfiable),
        ("bytes=-0", 100, .unsatisfiable),
        ("bytes=0-0", 0, .unsatisfiable),
        ("items=0-1", 100, .unsatisfiable),
        ("bytes=a-b", 100, .unsatisfiable),
        ("bytes=1", 100, .unsatisfiable),
        ("bytes=0-1,5-6", 100, .whole),
    ] as [(String?, Int64, ByteRange.Outcome)])
    func resolvesRanges(header: String?, size: Int64, expected: ByteRange.Outcome) {
        #expect(ByteRange.resolve(header, size: size) == expected)
    }
}
