mapFromArrays(arrayMap(a -> a.key, $attrs), arrayMap(a -> $any_value_of_a_value, $attrs))
