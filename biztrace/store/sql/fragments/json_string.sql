replaceAll(replaceAll(replaceAll(replaceAll(toJSONString($s), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026')
