import DeviceTree
import ResourceTables

/// The nodes of one tree in tree order, through which the table entries made from it spell
/// their host nodes' paths (`NodePath`): one array per tree, made once per resolution, where
/// each entry holding its node in a closure allocated that closure's context.
final class NodePaths: NodePathSpeller {
    private let nodes: [DeviceTreeNode]

    init(_ tree: FlattenedDeviceTree) { nodes = tree.allNodes }

    /// The entry's path of `node`, a node of this tree, spelled only when read.
    func path(of node: DeviceTreeNode) -> NodePath { NodePath(node: node.index, spelledBy: self) }

    func path(ofNode position: Int) -> String { nodes[position].path }
}
