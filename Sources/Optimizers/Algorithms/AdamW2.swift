import Tensors

/// AdamW² (Qi et al., "Taming Transformer Without Using Learning Rate Warmup", ICLR 2025, arXiv
/// 2505.21910): AdamW whose step size is bounded per weight matrix so that σ₁(ΔW_t) ≤
/// τ·σ₁(W_{t−1}) — the learning rate is min(α, τ·σ₁(W_{t−1})/σ₁(∇W_t)), σ₁ by warm-started power
/// iteration — so a transformer trains without warm-up at a rate that crashes plain AdamW.
///
/// Assembled as AdamW's transforms (adam → decoupled decay → −lr) followed by `SpectralStepBound`.
/// The threshold τ (`threshold`) and the iterations per step (`power_iterations`) are settings; see
/// `defaultThreshold` for how the default was chosen. The bound costs two power iterations' worth of
/// passes over each matrix per step (an optimizer step of 4 M parameters: 4.4 ms against AdamW's
/// fused 1.1 ms, `bigbatch bench optimizer --name adamw2 --params 4000000`) — noise beside a forward
/// and backward pass.
public enum AdamW2 {
    /// τ = 0.1: a step may move a matrix's top singular value by at most 10%. The value is ours (the
    /// paper's was not at hand), chosen on the shipped GPT without warm-up (`launch/bench/warmup.sh`,
    /// README "Without warm-up"): at lr 1e-2, 300 steps reach validation loss 1.71 with τ = 0.1, the best
    /// of τ ∈ {0.03, 0.05, 0.1, 0.2, 0.5} (1.90, 1.74, 1.71, 2.25, 2.46), where plain AdamW stalls at 2.49
    /// and needs 50 warm-up steps to reach 1.73.
    public static let defaultThreshold = 0.1
    public static let defaultIterations = 1

    public static func transforms(adamW: [any GradientTransform], bound: SpectralStepBound) -> [any GradientTransform] {
        OptimizerCatalog.unfused(adamW) + [bound]
    }
}
