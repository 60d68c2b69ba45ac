// Viewer extensions of the "lessons" area (recording traces for lessons): notes on the timeline
// and present mode; the modules live in Public/js/lessons/.
import '../lessons/notes.js';
import '../lessons/present.js';
