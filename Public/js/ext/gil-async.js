// Viewer extensions of the "gil-async" area: import your handler and track modules here
// (see Public/js/ext/index.js and Public/js/tracks/index.js).
export {};
