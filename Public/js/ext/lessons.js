// Viewer extensions of the "lessons" area: import your handler and track modules here
// (see Public/js/ext/index.js and Public/js/tracks/index.js).
export {};
