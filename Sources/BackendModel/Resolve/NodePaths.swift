import DeviceTree
import ResourceTables

/// Spells the paths of one tree's nodes for the table entries made from it (`NodePath`): one
/// per tree, made once per resolution, where each entry holding its node in a closure
/// allocated that closure's context.
final class NodePaths: NodePathSpeller {
    private let tree: FlattenedDeviceTree

    init(_ tree: FlattenedDeviceTree) { self.tree = tree }

    /// The entry's path of `node`, a node of this tree, spelled only when read.
    func path(of node: DeviceTreeNode) -> NodePath { NodePath(node: node.index, spelledBy: self) }

    func path(ofNode position: Int) -> String { tree.node(at: position).path }
}
