public enum PlaygroundPlaceholder {}
