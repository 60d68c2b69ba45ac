// Viewer extensions, loaded before the viewer starts. Each developer area owns one file here and
// registers what it adds from it (event handlers: model/registry.js; timeline rows and overlays:
// tracks/index.js; span looks and instant markers: styles.js registerSpanStyle /
// registerInstantFamily). Put bigger pieces in their own modules (Public/js/tracks/gil.js …) and
// import them from your file, so nobody edits anyone else's file.
import './seeing.js';
import './gil-async.js';
import './os-sched.js';
import './lessons.js';
import './perf.js';
import './step.js';
