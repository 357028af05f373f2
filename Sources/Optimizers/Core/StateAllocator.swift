import Tensors

/// Creates a transform's state buffers with their names, so `state` lists exactly what was allocated.
///
/// Full-size moments are one flat tensor over the parameter layout (e.g. "adam.m"), which keeps a
/// later sharding of the state a matter of splitting ranges.
final class StateAllocator {
    let prefix: String
    private(set) var tensors: [StateTensor] = []

    init(prefix: String) { self.prefix = prefix }

    func buffer(_ name: String, count: Int, shape: [Int]? = nil) -> FloatBuffer {
        let storage = FloatBuffer(count: count)
        tensors.append(StateTensor(name: "\(prefix).\(name)", shape: shape ?? [count], storage: storage))
        return storage
    }

    func like(_ layout: ParameterLayout, _ name: String) -> FloatBuffer { buffer(name, count: layout.totalCount) }

    func scalar(_ name: String, initial: Float = 0) -> FloatBuffer {
        let storage = buffer(name, count: 1, shape: [1])
        storage[0] = initial
        return storage
    }
}
