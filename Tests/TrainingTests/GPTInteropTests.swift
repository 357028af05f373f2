import Foundation
import TestSupport
import XCTest

/// A GPT checkpoint is nanoGPT's state dict: the `param.*` tensors carry nanoGPT's names and
/// layouts (the tied `lm_head.weight` stored once, as `transformer.wte.weight`), and nanoGPT's
/// forward pass written in NumPy over them gives the validation loss `bigbatch eval` reports.
/// Needs Python with numpy and safetensors (installed by the test command).
final class GPTInteropTests: XCTestCase {
    static let script = #"""
        import json, sys
        import numpy as np
        from safetensors.numpy import load_file
        path, corpus, n_layer, n_head, block, val_fraction = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6]), float(sys.argv[6])
        params = {k[len("param."):]: v.astype(np.float64) for k, v in load_file(path).items() if k.startswith("param.")}
        # nanoGPT's GPT.state_dict() keys for this configuration, lm_head.weight tied (hence strict=False).
        expected = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "transformer.ln_f.bias"]
        for i in range(n_layer):
            for part in ["ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"]:
                expected += [f"transformer.h.{i}.{part}.weight", f"transformer.h.{i}.{part}.bias"]
        missing = sorted(set(expected) - set(params)); unexpected = sorted(set(params) - set(expected))
        wte, wpe = params["transformer.wte.weight"], params["transformer.wpe.weight"]
        C = wte.shape[1]
        shapes_ok = all(params[f"transformer.h.{i}.attn.c_attn.weight"].shape == (3 * C, C)
                        and params[f"transformer.h.{i}.mlp.c_fc.weight"].shape == (4 * C, C) for i in range(n_layer))
        data = np.frombuffer(open(corpus, "rb").read(), dtype=np.uint8).astype(np.int64)
        held = int(len(data) * val_fraction)
        val = data[len(data) - held:]
        count = (len(val) - 1) // block
        x_idx = np.stack([val[i * block:(i + 1) * block] for i in range(count)])
        y_idx = np.stack([val[i * block + 1:(i + 1) * block + 1] for i in range(count)])
        def ln(x, name):
            m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
            return (x - m) / np.sqrt(v + 1e-5) * params[name + ".weight"] + params[name + ".bias"]
        def linear(x, name): return x @ params[name + ".weight"].T + params[name + ".bias"]
        def gelu(x): return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
        B, T = x_idx.shape
        x = wte[x_idx] + wpe[:T]
        mask = np.tril(np.ones((T, T), dtype=bool))
        for i in range(n_layer):
            h = f"transformer.h.{i}"
            q, k, v = np.split(linear(ln(x, h + ".ln_1"), h + ".attn.c_attn"), 3, axis=-1)
            heads = lambda t: t.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)
            q, k, v = heads(q), heads(k), heads(v)
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(C // n_head)
            att = np.where(mask, att, -np.inf)
            att = np.exp(att - att.max(-1, keepdims=True)); att /= att.sum(-1, keepdims=True)
            y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
            x = x + linear(y, h + ".attn.c_proj")
            x = x + linear(gelu(linear(ln(x, h + ".ln_2"), h + ".mlp.c_fc")), h + ".mlp.c_proj")
        logits = ln(x, "transformer.ln_f") @ wte.T
        logits -= logits.max(-1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        loss = -np.take_along_axis(logp, y_idx[..., None], -1).mean()
        print(json.dumps({"missing": missing, "unexpected": unexpected, "shapes_ok": shapes_ok, "val_loss": loss}))
        """#

    func testCheckpointIsNanoGPTsStateDictAndItsForwardPassAgrees() throws {
        let probe = try ProcessRunner.runTool("/usr/bin/env", ["python3", "-c", "import numpy, safetensors.numpy"])
        guard probe.status == 0 else {
            return XCTFail("numpy and safetensors are needed (launch/test.sh installs them): \(probe.error)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bigbatch-gptinterop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let corpus = directory.appendingPathComponent("corpus.txt")
        let verse = "In the beginning God created the heaven and the earth. And the earth was without form, and void.\n"
        try String(repeating: verse, count: 30).write(to: corpus, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("gpt.yaml")
        try """
        model: {kind: gpt, block_size: 16, n_layer: 2, n_head: 2, n_embd: 16}
        data: {dataset: text, path: \(corpus.path), val_fraction: 0.2}
        batch: {global: 16, micro: 16}
        train: {steps: 8, seed: 3, eval_every: 1000000}
        optimizer: {name: adamw, lr: 0.01}
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("run")
        let trained = try ProcessRunner.run(["train", "--config", config.path, "--run-dir", run.path, "--quiet"], timeout: 120)
        XCTAssertEqual(trained.status, 0, trained.error)
        let final = run.appendingPathComponent("final.safetensors")
        let evaluated = try ProcessRunner.run(["eval", "--checkpoint", final.path, "--json"], timeout: 60)
        XCTAssertEqual(evaluated.status, 0, evaluated.error)
        let ours = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any])
        let python = try ProcessRunner.runTool("/usr/bin/env", ["python3", "-c", Self.script, final.path, corpus.path,
                                                                "2", "2", "16", "0.2"])
        XCTAssertEqual(python.status, 0, python.error)
        let theirs = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(python.output.utf8)) as? [String: Any])
        XCTAssertEqual(theirs["missing"] as? [String], [])
        XCTAssertEqual(theirs["unexpected"] as? [String], [])
        XCTAssertEqual(theirs["shapes_ok"] as? Bool, true)
        let valLoss = try XCTUnwrap(ours["val_loss"] as? Double), reference = try XCTUnwrap(theirs["val_loss"] as? Double)
        // float32 against float64 over a few hundred positions: agreement to 1e-5 relative is rounding.
        XCTAssertEqual(valLoss, reference, accuracy: 1e-5 * reference, "ours \(valLoss), NumPy's nanoGPT \(reference)")
        XCTAssertEqual(try XCTUnwrap(ours["bits_per_byte"] as? Double), valLoss / log(2), accuracy: 2e-6)
    }
}
