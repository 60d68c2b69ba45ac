import JSON

/// Every experiment, in the order the catalog lists them. Adding an experiment
/// means adding its file and one line in its area's list.
public enum Catalog {
    public static let all: [Experiment] = ([.threadPool] + threadExperiments + processExperiments
        + asyncExperiments + ioExperiments + osExperiments).map(ScheduleParameters.adding)

    public static func experiment(_ id: String) -> Experiment? {
        all.first { $0.id == id }
    }

    public static var ids: [String] { all.map(\.id) }
}
