{
  "targets": [
    {
      "target_name": "rtnl",
      "sources": ["native/rtnl.c", "native/heap.cc"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
