{
  "targets": [
    {
      "target_name": "srcfib",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/addon_lpm.cc",
        "native/addon/addon_dp.cc",
        "native/dp/dp_fwd.c",
        "native/dp/dp_ipsec.c",
        "native/dp/dp_icmp.c",
        "native/dp/dp_loop.c",
        "native/dp/dp_neigh.c",
        "native/dp/dp_parse.c",
        "native/dp/dp_explain.c",
        "native/dp/dp_tables.c",
        "native/ipsec/ipsec_ah.c",
        "native/ipsec/ipsec_crypto.c",
        "native/ipsec/ipsec_esp.c",
        "native/lookup/lpm.c",
        "native/lookup/lpm_rib.c",
        "native/lookup/rcu_qsbr.c"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "native/lookup",
        "native/dp"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').gyp\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["<!@(pkg-config --cflags libdpdk)", "-O3", "-mpopcnt", "-msse4.2", "-fno-strict-aliasing", "-Wall"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-O3", "-mpopcnt", "-msse4.2", "-std=c++17", "-Wall"],
      "cflags!": ["-O2"],
      "cflags_cc!": ["-O2"],
      "libraries": ["<!@(pkg-config --libs libdpdk)", "-lrte_bus_vdev"],
      "conditions": [["OS!='linux'", {"defines": ["SRCFIB_UNSUPPORTED_OS"]}]]
    }
  ]
}
