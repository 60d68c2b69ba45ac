import Tracing

/// The most tasks that were between `task.start` and `task.end` at any instant.
func maxConcurrentTasks(_ events: [TraceEvent]) -> Int {
    var running = 0, peak = 0
    for event in events {
        if event.type == "task.start" { running += 1; peak = max(peak, running) }
        if event.type == "task.end" { running -= 1 }
    }
    return peak
}
