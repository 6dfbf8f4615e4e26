{
  "targets": [
    {
      "target_name": "srcfib",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/addon_lpm.cc",
        "native/lookup/lpm.c",
        "native/lookup/lpm_rib.c",
        "native/lookup/rcu_qsbr.c"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "native/lookup"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').gyp\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-O3", "-mpopcnt", "-msse4.2", "-fno-strict-aliasing", "-Wall"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-O3", "-mpopcnt", "-msse4.2", "-std=c++17", "-Wall"],
      "cflags!": ["-O2"],
      "cflags_cc!": ["-O2"],
      "libraries": ["<!@(pkg-config --libs libdpdk)"],
      "conditions": [["OS!='linux'", {"defines": ["SRCFIB_UNSUPPORTED_OS"]}]]
    }
  ]
}
