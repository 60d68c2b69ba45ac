// Viewer extensions of the "gil-async" area: the GIL holder track, GIL waits and holds on the
// thread lanes, and coroutine hand-off markers (Public/js/tracks/gil.js).
import '../tracks/gil.js';
