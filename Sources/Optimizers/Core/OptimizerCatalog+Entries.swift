import Configuration
import Tensors

extension OptimizerCatalog {
    static let entries: [Entry] = [
        Entry(name: "sgd", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let momentum = try s.nonNegative("momentum", default: 0)
            let dampening = try s.double("dampening", default: 0, range: 0...1)
            let weightDecay = try s.nonNegative("weight_decay", default: 0)
            let nesterov = try s.bool("nesterov", default: false)
            try torchFlags(s)
            if nesterov && (momentum <= 0 || dampening != 0) {
                throw .invalid(key: s.qualified("nesterov"), reason: "Nesterov momentum requires momentum > 0 and dampening = 0")
            }
            let core: [any GradientTransform] = momentum > 0
                ? [ScaleBySGDMomentum(layout: layout, momentum: Float(momentum), dampening: Float(dampening), nesterov: nesterov)]
                : []
            return .transforms(WeightDecay.assembled(core, weightDecay: Float(weightDecay), form: .coupled))
        },
        Entry(name: "adam", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let chain = try adamChain(s, layout, defaultDecay: 0, decoupledByDefault: false)
            try torchFlags(s)
            return chain
        },
        Entry(name: "adamw", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let chain = try adamChain(s, layout, defaultDecay: 1e-2, decoupledByDefault: true)
            try torchFlags(s)
            return chain
        },
        Entry(name: "adamw2", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            guard case .transforms(let adamW) = try adamChain(s, layout, defaultDecay: 1e-2, decoupledByDefault: true) else {
                preconditionFailure("the AdamW chain is transforms")
            }
            let bound = try SpectralStepBound.read(s, layout: layout, prefix: "adamw2")
            try torchFlags(s)
            return .transforms(AdamW2.transforms(adamW: adamW, bound: bound))
        },
        Entry(name: "nadam", defaultLearningRate: 2e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            let eps = try s.nonNegative("eps", default: 1e-8)
            let weightDecay = Float(try s.nonNegative("weight_decay", default: 0))
            let momentumDecay = try s.nonNegative("momentum_decay", default: 4e-3)
            let decoupled = try s.bool("decoupled_weight_decay", default: false)
            try torchFlags(s)
            let core = ScaleByAdam(layout: layout, beta1: betas[0], beta2: betas[1], epsilon: Float(eps),
                                   nesterovMomentumDecay: momentumDecay, prefix: "nadam")
            return .transforms(WeightDecay.assembled([core], weightDecay: weightDecay, form: decoupled ? .decoupled : .coupled))
        },
        Entry(name: "adalo", defaultLearningRate: 1e-3,
              fixedInGroups: ["lr": "AdaLo takes its step size from the loss, not from a learning rate"]) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            let mode = try s.choice("mode", default: "adversarial", from: AdaLo.Mode.allCases.map(\.rawValue))
            return .transforms([AdaLo(
                layout: layout, beta1: betas[0], beta2: betas[1],
                weightDecay: Float(try s.nonNegative("weight_decay", default: 1e-2)),
                kappa: Float(try s.positive("kappa", default: 3)), epsilon: Float(try s.nonNegative("eps", default: 1e-8)),
                mode: AdaLo.Mode(rawValue: mode) ?? .adversarial)])
        },
        Entry(name: "nsgda", defaultLearningRate: 4e-5) { s, layout throws(ConfigError) in
            let core = NSGDA(layout: layout, momentum: Float(try s.rate("momentum", default: 0.9)),
                             epsilon: Float(try s.nonNegative("eps", default: 1e-8)))
            let weightDecay = Float(try s.nonNegative("weight_decay", default: 1e-2))
            return .transforms((weightDecay > 0 ? [WeightDecay(.coupled, weightDecay: weightDecay)] : []) + [core])
        },
        Entry(name: "adafactor", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let settings = try ScaleByAdafactor.settings(from: s)
            try libraryFlags(s)
            return .transforms([ScaleByAdafactor(layout: layout, settings: settings)])
        },
        Entry(name: "sm3", defaultLearningRate: 0.1) { s, layout throws(ConfigError) in
            let sm3 = ScaleBySM3(layout: layout, momentum: Float(try s.rate("momentum", default: 0)),
                                 beta: Float(try s.double("beta", default: 0, range: 0...1)),
                                 epsilon: Float(try s.nonNegative("eps", default: 1e-30)))
            try libraryFlags(s)
            return .transforms([sm3, ScaleByLearningRate()])
        },
        Entry(name: "lamb", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            var settings = LAMB.Settings()
            let betas = try s.betas(default: [0.9, 0.999])
            settings.beta1 = betas[0]
            settings.beta2 = betas[1]
            settings.epsilon = Float(try s.nonNegative("eps", default: 1e-6))
            settings.weightDecay = Float(try s.nonNegative("weight_decay", default: 0))
            settings.weightDecouple = try s.bool("weight_decouple", default: true)
            settings.fixedDecay = try s.bool("fixed_decay", default: false)
            settings.gradAveraging = try s.bool("grad_averaging", default: true)
            settings.adam = try s.bool("adam", default: false)
            try s.fixedBool("rectify", supported: false)
            // Read by the reference only with rectify.
            _ = try s.int("n_sma_threshold", default: 5, range: 1...Int.max)
            _ = try s.bool("degenerated_to_sgd", default: false)
            try s.fixedBool("pre_norm", supported: false)
            // Only read by the reference together with pre_norm; use the clip_norm transform instead.
            _ = try s.nonNegative("max_grad_norm", default: 1)
            try libraryFlags(s)
            return .transforms(LAMB.transforms(layout: layout, settings: settings))
        },
        Entry(name: "amos", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let amos = Amos(layout: layout, beta: Float(try s.rate("beta", default: 0.999)),
                            momentum: Float(try s.rate("momentum", default: 0)),
                            extraL2: Float(try s.nonNegative("extra_l2", default: 0)),
                            cCoefficient: Float(try s.nonNegative("c_coef", default: 0.25)),
                            dCoefficient: Float(try s.nonNegative("d_coef", default: 0.25)),
                            epsilon: Float(try s.nonNegative("eps", default: 1e-18)))
            try libraryFlags(s)
            return .transforms([amos])
        },
        Entry(name: "smmf", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            let core = ScaleBySMMF(layout: layout, beta1: betas[0], beta2: betas[1],
                                   epsilon: Float(try s.nonNegative("eps", default: 1e-8)))
            return .transforms(try decoupled(core, s, defaultDecay: 0))
        },
        Entry(name: "adam_atan2", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            let core = ScaleByAdamAtan2(layout: layout, beta1: betas[0], beta2: betas[1],
                                        a: Float(try s.positive("a", default: 1.27)),
                                        b: Float(try s.positive("b", default: 1)))
            return .transforms(try decoupled(core, s, defaultDecay: 0))
        },
        Entry(name: "sadam", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            let core = ScaleBySAdam(layout: layout, beta1: betas[0], beta2: betas[1],
                                    softplusBeta: Float(try s.positive("softplus_beta", default: 50)))
            return .transforms(try decoupled(core, s, defaultDecay: 0))
        },
        Entry(name: "diffgrad", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            var rectification: ScaleByDiffGrad.Rectification?
            let threshold = try s.int("n_sma_threshold", default: 5, range: 0...Int.max)
            let degenerates = try s.bool("degenerated_to_sgd", default: true)
            if try s.bool("rectify", default: false) {
                var rule = ScaleByDiffGrad.Rectification()
                rule.threshold = threshold
                rule.degeneratesToSGD = degenerates
                rectification = rule
            }
            let core = ScaleByDiffGrad(layout: layout, beta1: betas[0], beta2: betas[1],
                                       epsilon: Float(try s.nonNegative("eps", default: 1e-8)),
                                       amsBound: try s.bool("ams_bound", default: false), rectification: rectification)
            return .transforms(try libraryDecay(core, s, defaultDecay: 0))
        },
        Entry(name: "adamomentum", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.999])
            let core = ScaleByAdaMomentum(layout: layout, beta1: betas[0], beta2: betas[1],
                                          epsilon: Float(try s.nonNegative("eps", default: 1e-8)))
            return .transforms(try decoupled(core, s, defaultDecay: 0))
        },
        Entry(name: "pnm", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.doubles("betas", default: [0.9, 1.0], count: 2)
            guard betas[0] >= 0 && betas[0] < 1 else {
                throw .outOfRange(key: s.qualified("betas[0]"), value: "\(betas[0])", allowed: "in [0.0, 1.0)")
            }
            guard betas[1] >= 0 else { throw .outOfRange(key: s.qualified("betas[1]"), value: "\(betas[1])", allowed: "≥ 0") }
            // Accepted as pytorch_optimizer.PNM accepts it; its step never reads ε either.
            _ = try s.nonNegative("eps", default: 1e-8)
            let core = ScaleByPNM(layout: layout, beta1: Float(betas[0]), beta0: Float(betas[1]))
            return .transforms(try libraryDecay(core, s, defaultDecay: 0))
        },
        Entry(name: "adapnm", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.doubles("betas", default: [0.9, 0.999, 1.0], count: 3)
            for index in 0..<2 where !(betas[index] >= 0 && betas[index] < 1) {
                throw .outOfRange(key: s.qualified("betas[\(index)]"), value: "\(betas[index])", allowed: "in [0.0, 1.0)")
            }
            guard betas[2] >= 0 else { throw .outOfRange(key: s.qualified("betas[2]"), value: "\(betas[2])", allowed: "≥ 0") }
            let core = ScaleByAdaPNM(layout: layout, beta1: Float(betas[0]), beta2: Float(betas[1]), beta0: Float(betas[2]),
                                     epsilon: Float(try s.nonNegative("eps", default: 1e-8)),
                                     amsBound: try s.bool("ams_bound", default: true))
            return .transforms(try libraryDecay(core, s, defaultDecay: 0))
        },
        Entry(name: "adanorm", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let betas = try s.betas(default: [0.9, 0.99])
            let core = ScaleByAdaNorm(layout: layout, beta1: betas[0], beta2: betas[1],
                                      r: Float(try s.rate("r", default: 0.95)),
                                      epsilon: Float(try s.nonNegative("eps", default: 1e-8)),
                                      amsBound: try s.bool("ams_bound", default: false))
            return .transforms(try libraryDecay(core, s, defaultDecay: 0))
        },
        Entry(name: "glfrac", defaultLearningRate: 1e-2) { s, layout throws(ConfigError) in
            let order = try s.double("alpha", default: 0.5, range: 0...1, openLower: true, openUpper: true)
            let history = try s.int("history", default: 8, range: 1...1024)
            let core = ScaleByGrunwaldLetnikov(layout: layout, order: Float(order), history: history)
            return .transforms(try decoupled(core, s, defaultDecay: 0))
        },
        Entry(name: "muon", defaultLearningRate: 0.02, groupBase: muonGroupBase) { s, layout throws(ConfigError) in
            try muon(s, layout)
        },
        // Adaptive-memory momentum, AM-AdamW form (arXiv 2510.04988): no β₁; the momentum coefficient is
        // chosen each step per tensor (see ScaleByAdaptiveMemory). Defaults follow AdamW's (β₂ 0.999,
        // ε 1e-8, decoupled weight decay 1e-2, lr 1e-3); lambda 0 is the plain two-plane model.
        Entry(name: "amem", defaultLearningRate: 1e-3) { s, layout throws(ConfigError) in
            let core = ScaleByAdaptiveMemory(layout: layout, beta2: Float(try s.rate("beta2", default: 0.999)),
                                             epsilon: Float(try s.nonNegative("eps", default: 1e-8)),
                                             lambda: Float(try s.nonNegative("lambda", default: 0)))
            return .transforms(try decoupled(core, s, defaultDecay: 1e-2))
        },
        Entry(name: "lookahead", defaultLearningRate: 1e-3, innerKey: "inner") { s, layout throws(ConfigError) in
            let k = try s.int("k", default: 5, range: 1...Int.max)
            let alpha = try s.double("alpha", default: 0.5, range: 0...1)
            let modes = Lookahead.PullbackMomentum.allCases.map(\.rawValue)
            let mode = Lookahead.PullbackMomentum(rawValue: try s.choice("pullback_momentum", default: "none", from: modes))!
            let inner = try make(section: try innerSection(s), layout: layout)
            var momentum: FloatBuffer?
            if mode != .none {
                // The buffer must span the whole layout: an inner optimizer split into groups (Muon's
                // branches, optimizer.groups) keeps one per group, which the library would pull back per group.
                guard let chain = inner as? TransformChain, !chain.transforms.contains(where: { $0 is ParameterPartition }) else {
                    throw .invalid(key: s.qualified("pullback_momentum"),
                                   reason: "\(mode.rawValue) needs an inner optimizer without groups; \(inner.name) has them")
                }
                momentum = chain.transforms.lazy.compactMap { ($0 as? HoldsMomentumBuffer)?.momentumBuffer }.first
            }
            return .optimizer(Lookahead(inner: inner, layout: layout, k: k, alpha: Float(alpha),
                                        pullbackMomentum: mode, momentum: momentum))
        },
    ]

    /// A wrapper's `inner` section, as pytorch_optimizer's `Lookahead(optimizer, …)` takes an optimizer
    /// with its own settings: its name under `optimizer` (or `name`), its own `lr` (which the schedule
    /// follows). A top-level `lr` is the inner one when the inner section has none, and must agree with it otherwise.
    static func innerSection(_ s: ConfigSection) throws(ConfigError) -> ConfigSection {
        let given = try s.section("inner")
        var map = given.map
        if map["name"] == nil, let name = map["optimizer"] {
            map["name"] = name
            map["optimizer"] = nil
        } else if map["name"] == nil {
            throw .missingKey(key: given.qualified("optimizer"))
        } else if map["optimizer"] != nil {
            throw .invalid(key: given.qualified("optimizer"), reason: "give the inner optimizer once, as optimizer or as name")
        }
        if let outer = try s.optionalDouble("lr") {
            let innerPath = ConfigSection(map: map, path: given.path)
            if let rate = try innerPath.optionalDouble("lr") {
                guard rate == outer else {
                    throw .invalid(key: s.qualified("lr"), reason: "\(outer) differs from \(given.qualified("lr")) = \(rate), the rate the inner optimizer steps at")
                }
            } else {
                map["lr"] = .double(outer)
            }
        }
        return ConfigSection(map: map, path: given.path)
    }

    /// torch.optim's keyword-only flags: `maximize` (only false); `foreach`, `fused` (which kernels run),
    /// `capturable` (CUDA graphs) and `differentiable` (autograd through the step) change nothing here.
    static func torchFlags(_ s: ConfigSection) throws(ConfigError) {
        try s.fixedBool("maximize", supported: false)
        for key in ["foreach", "fused", "capturable", "differentiable"] { s.declare(key) }
    }

    /// pytorch_optimizer's flags on every class: `maximize` (only false) and `foreach` (how it batches
    /// kernels; no effect on the arithmetic).
    static func libraryFlags(_ s: ConfigSection) throws(ConfigError) {
        try s.fixedBool("maximize", supported: false)
        s.declare("foreach")
    }

    /// `core` with pytorch_optimizer's weight decay (`apply_weight_decay`): `weight_decay` λ, decoupled
    /// by default (p ← p(1 − lr·λ), or p(1 − λ) with `fixed_decay`), else added to the gradient before
    /// `core` (`weight_decouple: false`); then the scale by −lr. Also takes the library's common
    /// `maximize` (only false) and `foreach` (how it batches kernels; no effect on the arithmetic).
    static func libraryDecay(_ core: any GradientTransform, _ s: ConfigSection, defaultDecay: Double) throws(ConfigError)
        -> [any GradientTransform]
    {
        let weightDecay = Float(try s.nonNegative("weight_decay", default: defaultDecay))
        let decouple = try s.bool("weight_decouple", default: true)
        let fixed = try s.bool("fixed_decay", default: false)
        try libraryFlags(s)
        let form: WeightDecay.Form = !decouple ? .coupled : fixed ? .inUpdate(fixed: true, cautious: false) : .decoupled
        return WeightDecay.assembled([core], weightDecay: weightDecay, form: form)
    }

    /// `core` followed by optional decoupled weight decay (`weight_decay`, AdamW style) and the scale by −lr.
    static func decoupled(_ core: any GradientTransform, _ s: ConfigSection, defaultDecay: Double) throws(ConfigError)
        -> [any GradientTransform]
    {
        WeightDecay.assembled([core], weightDecay: Float(try s.nonNegative("weight_decay", default: defaultDecay)), form: .decoupled)
    }

    static func adamChain(_ s: ConfigSection, _ layout: ParameterLayout, defaultDecay: Double,
                          decoupledByDefault: Bool) throws(ConfigError) -> Built {
        let betas = try s.betas(default: [0.9, 0.999])
        let eps = try s.nonNegative("eps", default: 1e-8)
        let weightDecay = Float(try s.nonNegative("weight_decay", default: defaultDecay))
        let amsgrad = try s.bool("amsgrad", default: false)
        let decoupled = decoupledByDefault ? true : try s.bool("decoupled_weight_decay", default: false)
        let core = ScaleByAdam(layout: layout, beta1: betas[0], beta2: betas[1], epsilon: Float(eps), amsgrad: amsgrad)
        // The one-pass step wherever it applies (no AMSGrad); `make` unfuses it where transforms follow.
        if !amsgrad {
            let coupled: [any GradientTransform] = weightDecay > 0 && !decoupled ? [WeightDecay(.coupled, weightDecay: weightDecay)] : []
            return .transforms(coupled + [FusedAdamW(adam: core, weightDecay: decoupled ? weightDecay : 0)])
        }
        return .transforms(WeightDecay.assembled([core], weightDecay: weightDecay, form: decoupled ? .decoupled : .coupled))
    }

    /// pytorch_optimizer.Muon's settings. `use_muon: false` makes the section one of the library's
    /// AdamW groups, whose `lr`, `betas`, `eps` and `weight_decay` are the AdamW branch's own
    /// (defaulting to the top-level `adamw_lr`, `adamw_betas`, `adamw_eps`, `adamw_wd`, see
    /// `muonGroupBase`); `use_muon: true` sends every parameter of the group through Newton–Schulz.
    static func muon(_ s: ConfigSection, _ layout: ParameterLayout) throws(ConfigError) -> Built {
        var settings = Muon.Settings()
        if let raw = s.value("use_muon") {
            guard case .bool(let flag) = raw else {
                throw .wrongType(key: s.qualified("use_muon"), expected: "boolean", found: "\(raw.kindName) \(raw)")
            }
            settings.useMuon = flag
        }
        let lr = try s.nonNegative("lr", default: 0.02)
        settings.weightDecouple = try s.bool("weight_decouple", default: true)
        try s.fixedBool("maximize", supported: false)
        s.declare("foreach")  // how the reference batches its kernels; no effect on the arithmetic
        if settings.useMuon == false {
            let betas = try s.betas(default: [0.9, 0.95])
            settings.adamBeta1 = betas[0]
            settings.adamBeta2 = betas[1]
            settings.adamEpsilon = Float(try s.nonNegative("eps", default: 1e-10))
            settings.adamWeightDecay = Float(try s.nonNegative("weight_decay", default: 0))
            settings.adamRateRatio = 1
            return .transforms(Muon.transforms(layout: layout, settings: settings))
        }
        if settings.useMuon == true, let scalar = layout.slots.first(where: { $0.shape.isEmpty }) {
            throw .invalid(key: s.qualified("use_muon"), reason: "the Muon branch needs a tensor of rank ≥ 1; \(scalar.name) is a scalar")
        }
        settings.momentum = Float(try s.rate("momentum", default: 0.95))
        settings.nesterov = try s.bool("nesterov", default: true)
        settings.steps = try s.int("ns_steps", default: 5, range: 1...100)
        settings.coefficients = try newtonSchulzCoefficients(s)
        _ = try s.choice("ns_method", default: "newton_schulz", from: ["newton_schulz"])
        _ = try s.ints("ns_reset_steps", default: [2])  // read by the reference only with gram_newton_schulz
        settings.adjustedRate = try s.bool("use_adjusted_lr", default: false)
        settings.weightDecay = Float(try s.nonNegative("weight_decay", default: 0))
        let adamLR = try s.nonNegative("adamw_lr", default: 3e-4)
        settings.adamRateRatio = lr > 0 ? Float(adamLR / lr) : 0
        let betas = try s.betas("adamw_betas", default: [0.9, 0.95])
        settings.adamBeta1 = betas[0]
        settings.adamBeta2 = betas[1]
        settings.adamEpsilon = Float(try s.nonNegative("adamw_eps", default: 1e-10))
        settings.adamWeightDecay = Float(try s.nonNegative("adamw_wd", default: 0))
        return .transforms(Muon.transforms(layout: layout, settings: settings))
    }

    /// A `use_muon: false` group starts from the top-level AdamW-branch settings under the names the
    /// group uses for them, as pytorch_optimizer.Muon fills its AdamW groups.
    @Sendable static func muonGroupBase(_ inherited: ConfigMap, _ overrides: ConfigMap) -> ConfigMap {
        guard overrides["use_muon"] == .bool(false) else { return inherited }
        var base = inherited
        base["lr"] = inherited["adamw_lr"] ?? .double(3e-4)
        base["betas"] = inherited["adamw_betas"]
        base["eps"] = inherited["adamw_eps"]
        base["weight_decay"] = inherited["adamw_wd"]
        return base
    }

    /// The Newton–Schulz schedule of `ns_coeffs`: a preset of pytorch_optimizer 4.1.0, one (a, b, c), or a list of them.
    static func newtonSchulzCoefficients(_ s: ConfigSection) throws(ConfigError) -> [(Float, Float, Float)] {
        let presets: [String: [(Float, Float, Float)]] = [
            "original": Muon.Settings().coefficients,
            "quintic": [(4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377), (3.7418, -5.5913, 2.3037),
                        (2.8769, -3.1427, 1.2046), (2.8366, -3.0525, 1.2012)],
            "polar_express": [(8.237312490495555, -23.157747414558198, 16.680568411445915),
                              (4.082441999064835, -2.893047735332586, 0.5252849256975648),
                              (3.9263479922546582, -2.8547468034765298, 0.5318022422894988),
                              (3.2982187133085143, -2.424541981026706, 0.48632008358844075),
                              (2.2970369434552573, -1.63662558125903, 0.4002628455953627),
                              (1.8763805351440397, -1.2347896577722228, 0.35891887501668385),
                              (1.8564423485617974, -1.2132449880935525, 0.3568003487825883),
                              (1.8749994008682747, -1.2499988017229169, 0.3749994008546422)],
            "polar_express_safer": [(8.156554524902461, -22.48329292557795, 15.878769915207462),
                                    (4.0429299351667245, -2.808917465908704, 0.5000178451051299),
                                    (3.8916678022926563, -2.7724841532176825, 0.5060648178503389),
                                    (3.285753657755658, -2.3681294933425394, 0.46449024233003117),
                                    (2.3005307116270983, -1.6111665557258408, 0.3833374427545273),
                                    (1.8631210546382593, -1.2042160621002727, 0.3421879560523383),
                                    (1.8382572152247512, -1.1779263289537742, 0.3396513038637379),
                                    (1.8749999923301852, -1.2499999836060613, 0.374999991275876)],
        ]
        let key = s.qualified("ns_coeffs")
        switch s.value("ns_coeffs") {
        case nil:
            return Muon.Settings().coefficients
        case .string(let name)?:
            guard let schedule = presets[name.lowercased()] else { throw .invalidChoice(key: key, value: name, valid: presets.keys.sorted()) }
            return schedule
        case .list(let items)?:
            func triple(_ value: ConfigValue) -> (Float, Float, Float)? {
                guard case .list(let numbers) = value, numbers.count == 3 else { return nil }
                let parsed = numbers.compactMap { number -> Float? in
                    switch number {
                    case .int(let i): Float(i)
                    case .double(let d): Float(d)
                    default: nil
                    }
                }
                return parsed.count == 3 ? (parsed[0], parsed[1], parsed[2]) : nil
            }
            if let one = triple(.list(items)) { return [one] }
            let schedule = items.compactMap(triple)
            guard !schedule.isEmpty, schedule.count == items.count else {
                throw .invalid(key: key, reason: "expected a preset name, [a, b, c] or a list of [a, b, c]")
            }
            return schedule
        case let other?:
            throw .wrongType(key: key, expected: "preset name or list of [a, b, c]", found: other.kindName)
        }
    }
}
