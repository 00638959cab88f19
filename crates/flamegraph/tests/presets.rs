//! Each language preset on a real-looking stack, checked through the folded
//! output (root first, `;`-separated, value last).

mod common;

use common::frame;
use vispyr_common::profile::Frame;
use vispyr_flamegraph::{RuleSet, Tree, list_presets};

fn folded_with_preset(preset: &str, stack: &[Frame]) -> String {
    let rules = RuleSet::preset(preset).unwrap().compile().unwrap();
    let tree = Tree::build([(stack, 10)], &rules);
    assert_eq!(tree.total(), 10);
    tree.folded()
}

fn functions(names: &[&str]) -> Vec<Frame> {
    names.iter().map(|name| Frame::named(*name)).collect()
}

#[test]
fn preset_list() {
    assert_eq!(
        list_presets(),
        ["nodejs", "python", "go", "java", "ruby", "dotnet", "rust"]
    );
    let err = RuleSet::preset("php").unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"resolve preset "php": unknown preset"#),
        "{err}"
    );
}

#[test]
fn python_hides_importlib_and_collapses_site_packages() {
    let site = "/usr/lib/python3/site-packages";
    let stack = vec![
        frame("<module>", "/srv/app/main.py", 1),
        frame("_find_and_load", "<frozen importlib._bootstrap>", 1007),
        frame("_load_unlocked", "<frozen importlib._bootstrap>", 688),
        frame("exec_module", "<frozen importlib._bootstrap_external>", 883),
        frame("<module>", "/srv/app/worker.py", 3),
        frame("get", &format!("{site}/requests/api.py"), 73),
        frame("request", &format!("{site}/requests/sessions.py"), 589),
        frame("urlopen", &format!("{site}/urllib3/connectionpool.py"), 715),
        frame("create_connection", "/usr/lib/python3.11/socket.py", 827),
        frame("on_response", "/srv/app/hooks.py", 12),
        frame(
            "json",
            "/usr/lib/python3/dist-packages/simplejson/__init__.py",
            514,
        ),
    ];
    assert_eq!(
        folded_with_preset("python", &stack),
        "<module>;<module>;requests;urllib3;create_connection;on_response;simplejson 10\n"
    );
}

#[test]
fn go_collapses_runtime() {
    let stack = functions(&[
        "runtime.goexit",
        "net/http.(*conn).serve",
        "net/http.serverHandler.ServeHTTP",
        "main.handler",
        "encoding/json.Marshal",
        "runtime.mallocgc",
        "runtime.(*mcache).nextFree",
        "runtime/internal/atomic.Load",
    ]);
    assert_eq!(
        folded_with_preset("go", &stack),
        "runtime;net/http.(*conn).serve;net/http.serverHandler.ServeHTTP;main.handler;encoding/json.Marshal;runtime 10\n"
    );
}

#[test]
fn java_collapses_jdk_packages() {
    let stack = functions(&[
        "java.lang.Thread.run",
        "java.util.concurrent.ThreadPoolExecutor$Worker.run",
        "java.util.concurrent.ThreadPoolExecutor.runWorker",
        "org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun",
        "com.example.shop.CartController.add",
        "java.util.HashMap.get",
        "jdk.internal.misc.Unsafe.park",
        "com.example.shop.Cart.total",
        "java/util/ArrayList.forEach",
    ]);
    assert_eq!(
        folded_with_preset("java", &stack),
        "java.lang;java.util.concurrent;org.apache.tomcat.util.net.NioEndpoint$SocketProcessor.doRun;\
         com.example.shop.CartController.add;java.util;jdk.internal.misc;com.example.shop.Cart.total;java/util 10\n"
    );
}

#[test]
fn ruby_collapses_gems_and_hides_internals() {
    let gems = "/usr/local/bundle/gems";
    let stack = vec![
        frame(
            "block in spawn_thread",
            &format!("{gems}/puma-6.4.0/lib/puma/thread_pool.rb"),
            155,
        ),
        frame(
            "call",
            &format!("{gems}/rack-2.2.8/lib/rack/builder.rb"),
            244,
        ),
        frame("call", &format!("{gems}/rack-2.2.8/lib/rack/lint.rb"), 58),
        frame(
            "UsersController#index",
            "/srv/app/app/controllers/users_controller.rb",
            5,
        ),
        frame("Kernel#require", "<internal:kernel>", 37),
        frame(
            "to_json",
            &format!("{gems}/activesupport-7.1.2/lib/active_support/json.rb"),
            12,
        ),
    ];
    assert_eq!(
        folded_with_preset("ruby", &stack),
        "puma;rack;UsersController#index;activesupport 10\n"
    );
}

#[test]
fn dotnet_collapses_framework_namespaces() {
    let stack = functions(&[
        "System.Private.CoreLib!System.Threading.ThreadPoolWorkQueue.Dispatch",
        "System.Threading.ThreadPoolWorkQueue.Dispatch",
        "Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol.ProcessRequests",
        "MyShop.Controllers.CartController.Add",
        "System.Linq.Enumerable.ToList",
    ]);
    assert_eq!(
        folded_with_preset("dotnet", &stack),
        "System.Threading;Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http;\
         MyShop.Controllers.CartController.Add;System.Linq 10\n"
    );
}

#[test]
fn rust_collapses_std_and_tokio_by_crate() {
    let stack = functions(&[
        "std::rt::lang_start_internal",
        "std::panicking::try",
        "tokio::runtime::runtime::Runtime::block_on",
        "tokio::runtime::task::harness::poll",
        "myapp::handler::{{closure}}",
        "core::ptr::drop_in_place<myapp::Request>",
        "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop",
        "<myapp::Body as core::ops::drop::Drop>::drop",
    ]);
    assert_eq!(
        folded_with_preset("rust", &stack),
        "std;tokio;myapp::handler::{{closure}};core;alloc;<myapp::Body as core::ops::drop::Drop>::drop 10\n"
    );
}
