// Viewer extensions of the "os-sched" area: the OS-state strip under every lane, the cores
// view and the busy-CPUs strip (Public/js/tracks/os-state.js).
import '../tracks/os-state.js';
