/* memlist: a kmalloc'd singly linked list behind exported functions.
 * Console on unload: "memlist: freed %d node(s)".
 */
#include <kernel.h>

struct node {
	int value;
	char name[16];
	struct node *next;
};

static struct node *head;

int memlist_push(int value, const char *name)
{
	struct node *n = kmalloc(sizeof(*n), GFP_KERNEL);

	if (!n)
		return -ENOMEM;
	n->value = value;
	strscpy(n->name, name, sizeof(n->name));
	n->next = head;
	head = n;
	return 0;
}
EXPORT_SYMBOL(memlist_push);

int memlist_len(void)
{
	int len = 0;

	for (struct node *n = head; n; n = n->next)
		len++;
	return len;
}
EXPORT_SYMBOL(memlist_len);

int memlist_sum(void)
{
	int sum = 0;

	for (struct node *n = head; n; n = n->next)
		sum += n->value;
	return sum;
}
EXPORT_SYMBOL(memlist_sum);

int memlist_pop(void)
{
	struct node *n = head;
	int value;

	if (!n)
		return -ENOENT;
	value = n->value;
	head = n->next;
	kfree(n);
	return value;
}
EXPORT_SYMBOL(memlist_pop);

int memlist_find(const char *name)
{
	for (struct node *n = head; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n->value;
	return -ENOENT;
}
EXPORT_SYMBOL(memlist_find);

int memlist_describe(char *buf, int size)
{
	return snprintf(buf, size, "%d nodes, sum=%d", memlist_len(), memlist_sum());
}
EXPORT_SYMBOL(memlist_describe);

static void __exit memlist_exit(void)
{
	int freed = 0;

	while (head) {
		memlist_pop();
		freed++;
	}
	pr_info("memlist: freed %d node(s)\n", freed);
}

module_exit(memlist_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("A kmalloc'd linked list");
