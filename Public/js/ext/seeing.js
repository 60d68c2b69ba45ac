// Viewer extensions of the "seeing" area (issue 9): shared-state markers, insights, phases.
import '../model/lesson.js';
import '../tracks/lesson.js';
import '../tracks/items.js';
