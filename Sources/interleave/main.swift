import Playground
print("placeholder")
