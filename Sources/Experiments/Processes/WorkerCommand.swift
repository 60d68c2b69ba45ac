import Glibc
/// The hidden `interleave worker …` entry point: the code a child process runs when
/// the server starts its own executable again for a process experiment.
public enum WorkerCommand {
    /// `arguments` are what follows `interleave worker`; returns the exit code.
    public static func main(_ arguments: [String]) -> Int32 {
        FileHandleWriter.standardError("interleave worker: no worker kinds yet\n")
        return 2
    }
}

enum FileHandleWriter {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
