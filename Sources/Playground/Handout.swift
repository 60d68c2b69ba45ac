import Experiments
import Glibc
import HTTPServer
import JSON
import Store

/// An offline hand-out: ONE self-contained HTML file — the viewer's page, its styles,
/// every module, the runs' traces, notes and lesson — that opens from `file://` with
/// no network and no server, and draws the same timeline.
///
/// The page is the viewer's own `index.html` with its stylesheet inlined, its module
/// preloads dropped and its module script replaced by three scripts: the data, the
/// modules' sources, and `js/lessons/offline-boot.js`, which answers the viewer's
/// `/api/` reads from the data and loads the modules from blob: URLs.
public enum Handout {
    static let bootPath = "js/lessons/offline-boot.js"

    public struct Content: Sendable {
        public var runs: [RunSnapshot]
        public var traces: [String: [UInt8]]
        public var notes: [String: [RunNote]]
        public var lessons: [Lesson]
        /// What the page opens: `?run=ID` or `?lesson=ID`.
        public var search: String
        public var title: String

        public init(runs: [RunSnapshot], traces: [String: [UInt8]], notes: [String: [RunNote]], lessons: [Lesson],
                    search: String, title: String) {
            self.runs = runs
            self.traces = traces
            self.notes = notes
            self.lessons = lessons
            self.search = search
            self.title = title
        }

        /// A page about one run.
        public static func run(_ run: RunSnapshot, trace: [UInt8], notes: [RunNote] = []) -> Content {
            Content(runs: [run], traces: [run.id: trace], notes: [run.id: notes], lessons: [],
                    search: "?run=\(run.id)", title: run.title ?? run.experiment)
        }
    }

    public static func html(_ content: Content, publicDirectory: String, version: String) throws(Problem) -> [UInt8] {
        guard let index = read(publicDirectory + "/index.html") else {
            throw Problem(status: 500, title: "Viewer missing", detail: "the viewer's index.html is not in \(publicDirectory)",
                          slug: "viewer-missing")
        }
        var modules = JSONObject()
        for path in javaScriptFiles(publicDirectory, under: "js") where path != bootPath {
            if let source = read(publicDirectory + "/" + path) { modules[path] = .string(String(decoding: source, as: UTF8.self)) }
        }
        guard let boot = read(publicDirectory + "/" + bootPath) else {
            throw Problem(status: 500, title: "Viewer missing", detail: "\(bootPath) is not in \(publicDirectory)", slug: "viewer-missing")
        }

        var traces = JSONObject()
        for (id, bytes) in content.traces { traces[id] = .string(String(decoding: bytes, as: UTF8.self)) }
        var notes = JSONObject()
        for (id, list) in content.notes { notes[id] = .array(list.map(\.json)) }
        var entry = "js/main.js"
        var out: [String] = []
        for line in String(decoding: index, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.contains("rel=\"modulepreload\"") { continue }
            if line.contains("rel=\"stylesheet\""), let href = attribute(line, "href"),
               let css = read(publicDirectory + "/" + href) {
                out.append("<style>\n" + String(decoding: css, as: UTF8.self).replacing("</", with: "<\\/") + "\n</style>")
                continue
            }
            if line.contains("<script type=\"module\""), let src = attribute(line, "src") {
                entry = src
                continue
            }
            if line.contains("<title>") {
                out.append("  <title>\(escape(content.title)) — Interleave hand-out</title>")
                continue
            }
            if line.contains("</body>") {
                let data: JSONValue = [
                    "version": .string(version), "generatedAt": .string(Timestamp.now()), "entry": .string(entry),
                    "search": .string(content.search), "experiments": .array(Catalog.all.map(\.json)),
                    "runs": .array(content.runs.map(\.json)), "traces": .object(traces), "notes": .object(notes),
                    "lessons": .array(content.lessons.map(\.json)),
                ]
                out.append("<script type=\"application/json\" id=\"interleave-offline-data\">\(embedded(data))</script>")
                out.append("<script type=\"application/json\" id=\"interleave-offline-modules\">\(embedded(.object(modules)))</script>")
                out.append("<script>\n" + String(decoding: boot, as: UTF8.self).replacing("</script", with: "<\\/script") + "\n</script>")
            }
            out.append(String(line))
        }
        return Array(out.joined(separator: "\n").utf8)
    }

    /// JSON that is safe inside a `<script>` element: every `<` escaped (`\u003c`), which
    /// JSON allows only inside strings, where the escape means the same character.
    static func embedded(_ value: JSONValue) -> String {
        value.jsonString.replacing("<", with: "\\u003c")
    }

    static func escape(_ text: String) -> String {
        text.replacing("&", with: "&amp;").replacing("<", with: "&lt;")
            .replacing(">", with: "&gt;").replacing("\"", with: "&quot;")
    }

    private static func attribute(_ line: Substring, _ name: String) -> String? {
        guard let start = line.firstRange(of: "\(name)=\"") else { return nil }
        let rest = line[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        let value = String(rest[..<end])
        // Only files inside the viewer's directory.
        guard !value.contains(".."), !value.hasPrefix("/"), !value.contains(":") else { return nil }
        return value
    }

    public static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return bytes
    }

    /// `.js` files under `directory/relative`, as paths relative to `directory`, sorted.
    static func javaScriptFiles(_ directory: String, under relative: String) -> [String] {
        guard let dir = opendir(directory + "/" + relative) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(".") { continue }
            let path = relative + "/" + name
            if Int32(entry.pointee.d_type) == Int32(DT_DIR) {
                out += javaScriptFiles(directory, under: path)
            } else if name.hasSuffix(".js") {
                out.append(path)
            }
        }
        return out.sorted()
    }
}
